"""notify's edges: tables and repositories, the HTTP, Slack and SMTP senders, events it emits."""
