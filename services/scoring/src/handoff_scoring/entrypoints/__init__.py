"""Scoring's entrypoints: the HTTP API and the signal consumer; they translate and delegate."""
