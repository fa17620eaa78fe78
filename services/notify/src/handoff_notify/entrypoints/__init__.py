"""notify's entrypoints: the admin and delivery API, the event consumer, the delivery worker."""
