"""insight's entrypoints: the HTTP API and page, the consumer, the rebuild command."""
