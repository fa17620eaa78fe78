"""Routing's edges: the repositories (handoffs, roster, a rep's queue), the tables, and every event
it publishes (events_out.py)."""
