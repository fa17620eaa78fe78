"""handoff_routing: the handoff routing service."""
