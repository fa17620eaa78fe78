"""handoff for development only: the embedded stack (PostgreSQL and a Kafka-protocol broker from
wheels, plus the services as processes), `handoff dev` with its demo feed and console, and local
webhook and SMTP receivers. Production installs never include it (see docs/running.md)."""

from handoff_dev.errors import DevStackError

__all__ = ["DevStackError"]
