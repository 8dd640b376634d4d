"""Per-store rate limits: one token bucket per store in each API process (429 with ``Retry-After``).

``LOYALTY_API_RATE_LIMIT_PER_SECOND`` tokens a second refill a bucket of ``LOYALTY_API_RATE_LIMIT_BURST``;
every authenticated request of the store takes one (a batch is one request). The buckets live in the
process: N API processes behind a load balancer let a store make up to N times the rate. A rate of 0
turns the limit off.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ingest_api.errors import RateLimited


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, store: str) -> None:
        """Count one request of ``store``; raise RateLimited (429, Retry-After in whole seconds) over the limit."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get(store)
            if bucket is None:
                bucket = self._buckets[store] = TokenBucket(self.rate, self.burst, self.burst, now)
            wait = bucket.take(now)
        if wait > 0:
            raise RateLimited(
                f"Too Many Requests: store {store} is limited to {self.rate:g} requests/s", retry_after=math.ceil(wait)
            )
