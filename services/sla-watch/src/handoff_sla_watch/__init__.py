"""handoff_sla_watch: the handoff sla_watch service."""
