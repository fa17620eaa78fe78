"""Routing's entrypoints: the HTTP API and the MQL consumer; they translate and delegate."""
