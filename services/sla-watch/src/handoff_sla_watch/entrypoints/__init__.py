"""sla-watch's entrypoints: HTTP API, routing consumer, timer firer; they translate and delegate."""
