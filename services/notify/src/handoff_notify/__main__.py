"""`python -m handoff_notify`: run the notify service."""

from handoff.runtime import run_service
from handoff_notify.app import create_app
from handoff_notify.settings import SERVICE, NotifySettings

if __name__ == "__main__":
    run_service(SERVICE, NotifySettings, create_app)
