"""Kafka plumbing: producer, batch consumer loop, outbox relay, inbox and dead-letter queue."""
