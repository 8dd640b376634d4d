"""When to try again: the retry schedule (settings) and the fixed delay tiers (topics) that hold waits.

The schedule is ``webhook_retry_schedule``: the delay before each retry, times a random factor in
``1 ± webhook_retry_jitter``, and never shorter than the endpoint's ``Retry-After``. A message makes at
most ``len(schedule) + 1`` attempts.

The tiers are a fixed set of delay topics (``WEBHOOK_RETRY_DELAYS``: 1s, 5s, 30s, 2m, 10m, 1h). A
record due in ``W`` goes to the largest tier not longer than ``W`` (the smallest one when ``W`` is
shorter than all). A tier topic only ever holds records that wait that tier's delay after they were
written, so each of its partitions is in ready order: the sender waits on the head alone. When the
head is ready the record is attempted if it is due, or hops to the tier that fits what is left.
Changing the schedule therefore needs no new topics, and a record is never attempted before its
``dueAtMs`` (at most one smallest-tier delay after it).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loyalty_stream.config.settings import Settings, parse_duration, parse_durations
from loyalty_stream.kafka.topics import WEBHOOK_RETRY_DELAYS, Topic


@dataclass(frozen=True, slots=True)
class Tier:
    topic: Topic
    delay_ms: int


@dataclass(frozen=True)
class RetryPolicy:
    delays: tuple[float, ...]  # seconds before retry 1, 2, …
    jitter: float = 0.2
    retry_after_max: float = 86400.0
    rand: Callable[[], float] = random.random

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            parse_durations(settings.webhook_retry_schedule),
            settings.webhook_retry_jitter,
            settings.webhook_retry_after_max_seconds,
        )

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_delay(self, attempts_made: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after ``attempts_made`` attempts; None when none is left."""
        if attempts_made >= self.max_attempts:
            return None
        base = self.delays[attempts_made - 1]
        delay = base * (1.0 + self.jitter * (2.0 * self.rand() - 1.0))
        return max(delay, retry_after or 0.0)


def tiers(topics: Sequence[Topic]) -> tuple[Tier, ...]:
    """The delay topics with their delays, shortest first."""
    if len(topics) != len(WEBHOOK_RETRY_DELAYS):
        raise ValueError("one delay topic per WEBHOOK_RETRY_DELAYS entry")
    pairs = [Tier(t, int(parse_duration(d) * 1000)) for t, d in zip(topics, WEBHOOK_RETRY_DELAYS, strict=True)]
    return tuple(sorted(pairs, key=lambda tier: tier.delay_ms))


def tier_for(all_tiers: Sequence[Tier], remaining_ms: int) -> Tier:
    """The largest tier not longer than the remaining wait (the smallest when the wait is shorter)."""
    chosen = all_tiers[0]
    for tier in all_tiers:
        if tier.delay_ms <= remaining_ms:
            chosen = tier
    return chosen


def ready_at_ms(tier: Tier, written_at_ms: int, due_at_ms: int) -> int:
    """When the head record of a tier partition may be looked at again."""
    return min(written_at_ms + tier.delay_ms, due_at_ms)
