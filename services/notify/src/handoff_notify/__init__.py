"""handoff notify: signed outbound webhooks, Slack and email notices, one-click accept links."""
