"""The embedded dev stack: PostgreSQL and a Kafka-protocol broker from wheels, plus the services."""

from handoff.devstack.errors import DevStackError

__all__ = ["DevStackError"]
