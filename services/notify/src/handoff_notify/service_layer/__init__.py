"""notify's handlers: events in -> deliveries queued; one try -> its outcome recorded."""
