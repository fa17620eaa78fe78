"""Scoring's edges: its tables, the lead repository and the state column's format, every event
it emits (events_out.py) and its metrics."""
