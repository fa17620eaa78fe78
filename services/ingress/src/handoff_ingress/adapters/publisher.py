"""Signal records onto handoff.signals.v1, returning once the broker acknowledged every one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka.errors import KafkaError

from handoff.http.limits import retry_after
from handoff.http.problem import Problem
from handoff.messaging.producer import Message


class Sends(Protocol):
    """What publishing needs of handoff.messaging.producer.Producer."""

    async def send_all(self, messages: Sequence[Message]) -> None: ...


@dataclass(frozen=True)
class SignalPublisher:
    """No outbox here: the sender holds the signal until we answer, so the broker's
    acknowledgement is the commit, and a 503 tells the sender to retry."""

    producer: Sends
    timeout_seconds: float

    async def __call__(self, messages: Sequence[Message]) -> None:
        try:
            await asyncio.wait_for(self.producer.send_all(messages), self.timeout_seconds)
        except (KafkaError, TimeoutError):
            raise Problem(
                503,
                "The broker did not acknowledge the signals; nothing was accepted. Retry later.",
                headers=retry_after(5),
            ) from None
