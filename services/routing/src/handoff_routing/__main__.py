"""`python -m handoff_routing`: run the routing service."""

import gc

from handoff.runtime import run_service
from handoff_routing.app import create_app
from handoff_routing.settings import SERVICE, RoutingSettings

if __name__ == "__main__":
    # The consumer allocates many short-lived objects per batch (parsed MQLs, handoffs, rows)
    # and few cycles: with the default thresholds the collector ran often enough, scanning the
    # modules and schemas loaded at start, to take a third of the CPU (bench/routing.py).
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    run_service(SERVICE, RoutingSettings, create_app)
