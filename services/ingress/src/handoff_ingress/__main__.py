"""`python -m handoff_ingress`: run the ingress service."""

from handoff.runtime import run_service
from handoff_ingress.app import create_app
from handoff_ingress.settings import SERVICE, IngressSettings

if __name__ == "__main__":
    run_service(SERVICE, IngressSettings, create_app)
