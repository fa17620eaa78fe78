"""handoff_sla_watch: the handoff sla-watch service."""
