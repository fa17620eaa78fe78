"""handoff ingress: webhooks and POST /v1/signals, verified, mapped and published as signals."""
