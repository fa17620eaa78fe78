"""A source's secrets: at most two active at once, each with an optional expiry, for rotation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Secret:
    value: bytes
    expires_at: datetime | None = None
    name: str = ""  # where it came from (env var or file), for logs; never the value

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, expires_at={self.expires_at!r})"


@dataclass(frozen=True, slots=True)
class SecretRing:
    """The secrets a source may sign with. Rotation: add the new one, give the old one an
    expiry a little after every sender has switched; both verify until then."""

    secrets: Sequence[Secret]

    def active(self, now: datetime) -> list[bytes]:
        return [s.value for s in self.secrets if s.expires_at is None or now < s.expires_at]

    def __bool__(self) -> bool:
        return bool(self.secrets)
