"""Webhook ingress: verify each MA tool's request its own way, map its events to signals, dedupe.

Verification and mapping are plain functions (one module per provider); `deliveries` is the only
part that touches the database and the broker.
"""
