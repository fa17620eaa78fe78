"""handoff: the shared package every handoff service imports (events, messaging, HTTP edges, settings)."""

__version__ = "0.1.0"
