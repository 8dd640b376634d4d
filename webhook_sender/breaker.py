"""A circuit breaker per subscription: after N consecutive failures, skip requests for a cool-down.

closed ──N failures──▶ open ──cool-down over──▶ half-open (one probe) ──success──▶ closed
                         ▲                                 │
                         └────────────failure──────────────┘

While open, the sender does not call the endpoint: each delivery due then is recorded as a
``deferred`` attempt and rescheduled on the delay topics like a failure, so a dead endpoint's
messages follow the normal schedule to the dead-letter topic without costing a request each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    failures_to_open: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    last_error: str | None = field(default=None, repr=False)

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """May a request go out now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.probing:
            self.probing = True
            return True
        return False

    def record(self, ok: bool, error: str | None = None) -> None:
        self.probing = False
        if ok:
            self.failures, self.opened_at, self.last_error = 0, None, None
            return
        self.failures += 1
        self.last_error = error
        if self.opened_at is not None or self.failures >= self.failures_to_open:
            self.opened_at = self.clock()  # (re)open: a failed probe starts a new cool-down
