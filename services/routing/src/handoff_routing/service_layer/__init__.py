"""Routing's handlers: consumer batches, reps' actions and the queue sweep, over a unit of work."""
