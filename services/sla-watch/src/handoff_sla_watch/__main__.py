"""`python -m handoff_sla_watch`: run the sla-watch service."""

from handoff.runtime import run_service
from handoff_sla_watch.app import create_app
from handoff_sla_watch.settings import SERVICE, SlaSettings

if __name__ == "__main__":
    run_service(SERVICE, SlaSettings, create_app)
