"""Per-subscription lanes: how deliveries wait for their turn without holding up anyone else.

Every subscription (an "endpoint": its id and current URL) has its own lane:

- at most ``concurrency`` requests in flight to it (a semaphore), so a hanging endpoint ties up only
  its own slots, never a shared pool or the consumer;
- first attempts with the same order key (the Kafka key, ``storeCode:customerId``) run one after the
  other, in the order they were consumed: per-(subscription, member) order while the endpoint is
  healthy. A failed attempt goes to the delay topics and the next one starts at once: there is no
  head-of-line blocking after a failure. Retries carry no order key;
- at most ``capacity`` deliveries waiting or in flight: beyond it, the sender defers new ones to the
  delay topics straight away rather than letting a slow endpoint grow memory or hold back the consumer.
  The capacity is ``backlog``, or what the lane finishes in ``HOLD_SECONDS`` at its recent rate when that
  is more (at most ``ceiling``, half the sender's in-flight budget; the ceiling itself while a healthy
  lane's rate is not known yet): a fast endpoint's burst waits in memory instead of going round the delay
  topics (a pre-loaded 20,000 to one endpoint wrote 104,843 delay-topic records with a fixed 1,000), a slow
  one still holds only ``backlog`` (what it was given beyond that and did not start within HOLD_SECONDS is
  deferred then). A deferral is not an attempt (the endpoint was not tried): it comes back when the lane
  should be half empty, estimated from its finishing rate (``wait_estimate``);
- both ways of deferring (a full lane refusing a new delivery, a late one handed back) apply only while
  another lane with work has room (``room_elsewhere``, given by ``Lanes``). When every lane with work is full
  the sender, not one endpoint, is what cannot keep up, and a deferral (a delay-topic record written and read
  back) only adds to its work: the burst waits in memory and the sender's in-flight budget pauses the
  consumer (2026-12-06: at 1,000 events/s to one receiver 25,662 of 30,000 deliveries were deferred untried
  and deliveries fell to tens a second).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

from webhook_sender.breaker import CircuitBreaker

HOLD_SECONDS = 10.0  # a lane may hold what it finishes in this long


@dataclass
class Lane:
    concurrency: int
    backlog: int
    breaker: CircuitBreaker
    ceiling: int = 0  # the most a lane may hold however fast it is (0: backlog)
    pending: int = 0
    rate: float = 0.0  # deliveries per second this lane finished recently (0: not known yet)
    _window: tuple[float, int] = (0.0, 0)  # (start, finished since) of the current rate sample
    _semaphore: asyncio.Semaphore | None = None
    _deferring: asyncio.Lock | None = None
    _tails: dict[Hashable, asyncio.Future[None]] = field(default_factory=dict)
    # Whether another lane would go on if this one deferred (a lane on its own: always, as it cannot tell).
    room_elsewhere: Callable[[], bool] = field(default=lambda: True, repr=False)

    @property
    def semaphore(self) -> asyncio.Semaphore:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.concurrency)
        return self._semaphore

    @property
    def deferring(self) -> asyncio.Lock:
        """Held while a skipped attempt is written to the delay topics: when a circuit opens, the deliveries
        queued behind it are moved out one at a time, not as one burst that would starve other lanes."""
        if self._deferring is None:
            self._deferring = asyncio.Lock()
        return self._deferring

    @property
    def capacity(self) -> int:
        healthy = self.breaker.state == "closed" and not self.breaker.failures  # its last attempt succeeded
        if not healthy:
            return self.backlog
        # Not measured yet (a new lane, or one idle since it started): the benefit of the doubt up to the
        # ceiling, as a burst arrives before any delivery has finished; ``submit`` moves what waits longer than
        # HOLD_SECONDS beyond the backlog out again, so a slow endpoint keeps only its backlog for long.
        held = int(self.rate * HOLD_SECONDS) if self.rate > 0 else self.ceiling
        return max(self.backlog, min(held, self.ceiling))

    @property
    def full(self) -> bool:
        return self.pending >= self.capacity

    @property
    def defers(self) -> bool:
        """Whether a new delivery goes to the delay topics instead of waiting here."""
        return self.full and self.room_elsewhere()

    def wait_estimate(self) -> float:
        """Seconds until the lane is half empty at the recent finishing rate, 1 s to HOLD_SECONDS (1 s unknown:
        the rate is known after the lane's first second). Never longer: a lane holds about that much work
        when it is full, and a rate measured while a burst was being deferred is too low (a 24 s wait then
        left a fast lane idle for 20 s in the benchmark)."""
        if self.rate <= 0:
            return 1.0
        return min(HOLD_SECONDS, max(1.0, (self.pending - self.capacity / 2) / self.rate))

    def _finished(self) -> None:
        now = time.monotonic()
        start, done = self._window
        start, done = (start or now), done + 1
        if now - start >= 1.0:
            sample = done / (now - start)
            self.rate = sample if not self.rate else (self.rate + sample) / 2
            start, done = now, 0
        self._window = (start, done)

    async def _turn(self, deadline: float) -> bool:
        """Wait for a slot; False when still waiting at ``deadline`` while the lane holds more than its backlog."""
        if not self.semaphore.locked():  # a slot is free (and nobody queued for one): no timer, no task
            await self.semaphore.acquire()
            return True
        try:
            await asyncio.wait_for(self.semaphore.acquire(), max(0.0, deadline - time.monotonic()))
            return True
        except TimeoutError:
            if self.pending > self.backlog and self.room_elsewhere():
                return False
        await self.semaphore.acquire()
        return True

    def submit(
        self, order_key: Hashable | None, work: Callable[[], Awaitable[None]], late: Callable[[], Awaitable[None]]
    ) -> asyncio.Task[None]:
        """Run ``work`` after the previous delivery with the same order key, within the concurrency cap; or
        ``late`` instead when it has not started within HOLD_SECONDS, the lane holds more than its backlog (more
        was held than the endpoint turned out to finish in that time) and another lane has room."""
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + HOLD_SECONDS
        previous = self._tails.get(order_key) if order_key is not None else None
        mine: asyncio.Future[None] = loop.create_future()
        if order_key is not None:
            self._tails[order_key] = mine
        self.pending += 1

        async def run() -> None:
            try:
                if previous is not None:
                    await asyncio.shield(previous)
                if not await self._turn(deadline):
                    await late()
                    return
                try:
                    await work()
                finally:
                    self.semaphore.release()
            finally:
                self.pending -= 1
                self._finished()
                mine.set_result(None)
                if order_key is not None and self._tails.get(order_key) is mine:
                    del self._tails[order_key]

        return loop.create_task(run())


class Lanes:
    """One lane per key (the sender uses subscription id and URL), created on first use."""

    def __init__(
        self, concurrency: int, backlog: int, breaker: Callable[[], CircuitBreaker], *, ceiling: int = 0
    ) -> None:
        self._concurrency = concurrency
        self._backlog = backlog
        self._ceiling = ceiling
        self._breaker = breaker
        self._lanes: dict[str, Lane] = {}

    def __getitem__(self, key: str) -> Lane:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = Lane(self._concurrency, self._backlog, self._breaker(), self._ceiling)
            lane.room_elsewhere = lambda: self._room_besides(lane)
        return lane

    def _room_besides(self, lane: Lane) -> bool:
        """A lane other than ``lane`` with work that is not full itself."""
        return any(other is not lane and other.pending and not other.full for other in self._lanes.values())

    def items(self) -> list[tuple[str, Lane]]:
        return list(self._lanes.items())
