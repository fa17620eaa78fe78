"""sla-watch's entrypoints: HTTP API, routing consumer, timer firer, and the typed Deps they
share; they translate and delegate."""
