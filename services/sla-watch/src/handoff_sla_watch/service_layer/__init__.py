"""sla-watch's service layer: the consumer's batch handler and the firing of due timers."""
