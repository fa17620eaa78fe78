"""Scoring's service layer: the consumer's batch handler and the erasure, each over one unit of work."""
