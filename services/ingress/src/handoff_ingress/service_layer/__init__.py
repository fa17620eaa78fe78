"""Accepting signals and webhook deliveries: build the records, check them, publish, dedupe."""
