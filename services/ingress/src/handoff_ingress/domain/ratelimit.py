"""A token bucket per source: a steady rate with a burst, and how long to wait when it is empty;
and a bounded set of buckets per client address for requests that failed verification."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    def __init__(
        self, per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.per_second, self.burst, self._clock = per_second, burst, clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> float:
        """0 when the request may pass; else the seconds until a token is free (for Retry-After)."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.per_second)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.per_second

    @staticmethod
    def retry_after(wait: float) -> int:
        return max(1, math.ceil(wait))


class AddressLimiter:
    """A token bucket per client address, for requests that failed verification.

    Charged only after a failure, so a genuine sender is never refused for others' junk (the
    source's own bucket is charged only for verified deliveries). At most `max_addresses`
    buckets are kept, the least recently used dropped first, so a flood from many addresses
    cannot grow memory: a dropped address starts again with a full burst, which is harmless.
    """

    def __init__(
        self,
        per_second: float,
        burst: int,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second, self.burst, self.max_addresses = per_second, burst, max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, address: str) -> float:
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = self._buckets[address] = TokenBucket(self.per_second, self.burst, self._clock)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
        return bucket.take()

    def __len__(self) -> int:
        return len(self._buckets)
