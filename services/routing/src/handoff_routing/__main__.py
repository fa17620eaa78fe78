"""`python -m handoff_routing`: run the routing service."""

from handoff.runtime import run_service
from handoff_routing.app import create_app
from handoff_routing.service import SERVICE
from handoff_routing.settings import RoutingSettings

if __name__ == "__main__":
    run_service(SERVICE, RoutingSettings, create_app)
