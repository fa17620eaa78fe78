"""handoff_scoring: the handoff scoring service."""
