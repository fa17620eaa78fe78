"""sla-watch's edge: tables, the timer repository, the events it emits, its metrics."""
