"""`python -m handoff_ingress`: run the ingress service."""

from handoff.runtime import run_service
from handoff_ingress.app import create_app
from handoff_ingress.settings import SERVICE, IngressSettings

if __name__ == "__main__":
    # uvloop and httptools, and HANDOFF_INGRESS_WORKERS processes sharing the port.
    run_service(
        SERVICE, IngressSettings, create_app, factory="handoff_ingress.app:create_worker_app"
    )
