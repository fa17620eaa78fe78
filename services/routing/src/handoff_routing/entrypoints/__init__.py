"""Routing's entrypoints: the HTTP routes, the consumer and the queue sweeper; they translate a
request or an event and call the service layer with the typed RoutingDeps (deps.py)."""
