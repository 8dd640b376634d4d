"""Retry schedule, delay tiers, circuit breaker, offsets and lanes: the sender's decisions without I/O."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest

from loyalty_stream.config.settings import Settings, parse_duration, parse_durations
from loyalty_stream.kafka.topics import WEBHOOK_RETRY_DELAYS, build_topics
from tests.support.waiting import until
from webhook_sender import lanes
from webhook_sender.breaker import CircuitBreaker
from webhook_sender.lanes import Lane, Lanes
from webhook_sender.offsets import OffsetTracker
from webhook_sender.schedule import RetryPolicy, ready_at_ms, tier_for, tiers


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5), ("2m", 120), ("1h", 3600), ("1d", 86400), ("250ms", 0.25), ("1.5", 1.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "-1s", "1x", "inf", "nan"])
def test_bad_durations_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)
    with pytest.raises(ValueError):
        Settings(webhook_retry_schedule=f"5s,{bad}")


def test_default_schedule_backs_off_exponentially_over_hours() -> None:
    delays = parse_durations(Settings().webhook_retry_schedule)
    assert all(b > a for a, b in itertools.pairwise(delays))
    assert sum(delays) >= 8 * 3600
    assert RetryPolicy(delays).max_attempts == len(delays) + 1


def test_jitter_stays_within_bounds_and_retry_after_wins() -> None:
    low = RetryPolicy((10.0, 20.0), jitter=0.2, rand=lambda: 0.0)
    high = RetryPolicy((10.0, 20.0), jitter=0.2, rand=lambda: 0.999999)
    assert low.next_delay(1) == pytest.approx(8.0)
    assert high.next_delay(1) == pytest.approx(12.0, abs=1e-3)
    assert low.next_delay(2) == pytest.approx(16.0)
    assert low.next_delay(1, retry_after=30) == 30  # never before Retry-After
    assert low.next_delay(3) is None  # three attempts made: none left


def test_tiers_cover_any_wait_and_never_make_a_record_early() -> None:
    all_tiers = tiers(build_topics(Settings()).webhooks_retry)
    assert [t.delay_ms for t in all_tiers] == sorted(int(parse_duration(d) * 1000) for d in WEBHOOK_RETRY_DELAYS)
    assert tier_for(all_tiers, 200).delay_ms == 1000  # shorter than every tier: the shortest
    assert tier_for(all_tiers, 7_000).delay_ms == 5000
    assert tier_for(all_tiers, 8 * 3600 * 1000).delay_ms == 3600 * 1000
    # A record on a tier is looked at after the tier's delay, or at its due time if that is sooner.
    tier = tier_for(all_tiers, 7_000)
    assert ready_at_ms(tier, written_at_ms=1_000, due_at_ms=8_000) == 6_000
    assert ready_at_ms(all_tiers[0], written_at_ms=1_000, due_at_ms=1_200) == 1_200

    # Hop down the tiers from a long wait: each hop's ready time is at or before the due time.
    now, due, hops = 0, 4 * 3600 * 1000 + 1234, 0
    while now < due:
        tier = tier_for(all_tiers, due - now)
        now = ready_at_ms(tier, now, due)
        hops += 1
        assert now <= due
    assert hops < 30


def test_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(failures_to_open=3, cooldown=10, clock=lambda: clock[0])
    for _ in range(2):
        assert breaker.allow()
        breaker.record(False, "HTTP 503")
    breaker.record(True)  # a success resets the count
    for _ in range(3):
        breaker.record(False, "timeout")
    assert breaker.state == "open" and not breaker.allow()
    clock[0] = 10.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.record(False, "timeout")
    assert breaker.state == "open"
    clock[0] = 20.0
    assert breaker.allow()
    breaker.record(True)
    assert breaker.state == "closed" and breaker.allow()


def test_offsets_commit_up_to_the_lowest_unfinished_message() -> None:
    tracker = OffsetTracker()
    tp = ("t", 0)
    tracker.assign([tp])
    parts = {o: tracker.add(tp, o) for o in (10, 11, 12)}
    assert tracker.to_commit() == {tp: 10}
    tracker.finish(parts[11], 11)
    tracker.finish(parts[12], 12)
    assert tracker.to_commit() == {}  # 10 still in flight (a hanging endpoint): nothing moves
    assert tracker.in_flight == 1
    tracker.finish(parts[10], 10)
    assert tracker.to_commit() == {tp: 13}
    assert tracker.in_flight == 0


def test_offsets_of_revoked_partitions_are_ignored() -> None:
    tracker = OffsetTracker()
    tp = ("t", 1)
    tracker.assign([tp])
    part = tracker.add(tp, 5)
    tracker.add(tp, 6)
    assert part is not None
    tracker.finish(part, 5)
    assert tracker.revoke([tp]) == {tp: 6}
    assert tracker.add(tp, 7) is None
    tracker.finish(part, 6)  # a delivery that ends after the revoke changes nothing
    assert tracker.in_flight == 0 and tracker.to_commit() == {}


def test_lane_keeps_order_per_key_and_caps_concurrency() -> None:
    async def scenario() -> tuple[list[str], int]:
        lane = Lane(concurrency=2, backlog=100, breaker=CircuitBreaker())
        events: list[str] = []
        running = [0, 0]
        gate = asyncio.Event()

        def work(name: str, wait: bool):
            async def run() -> None:
                running[0] += 1
                running[1] = max(running[1], running[0])
                events.append(f"start {name}")
                if wait:
                    await gate.wait()
                await asyncio.sleep(0)
                events.append(f"end {name}")
                running[0] -= 1

            return run

        async def late() -> None:
            events.append("late")

        tasks = [
            lane.submit("member-a", work("a1", wait=True), late),
            lane.submit("member-a", work("a2", wait=False), late),
            lane.submit("member-b", work("b1", wait=False), late),
            lane.submit("member-c", work("c1", wait=False), late),
        ]
        await asyncio.sleep(0.01)
        assert "start a2" not in events  # behind a1, which hangs
        assert "end b1" in events and "end c1" in events  # other members are not held up
        gate.set()
        await asyncio.gather(*tasks)
        return events, running[1]

    events, peak = asyncio.run(scenario())
    assert events.index("end a1") < events.index("start a2")
    assert peak <= 2 and "late" not in events


Runner = Callable[[str], Callable[[], Awaitable[None]]]


def _recorded(gate: asyncio.Event, events: list[str]) -> tuple[Runner, Runner]:
    """Work that waits for ``gate`` and notes "ran <name>", and a late path that notes "late <name>"."""

    def work(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            await gate.wait()
            events.append(f"ran {name}")

        return run

    def late(name: str) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            events.append(f"late {name}")

        return run

    return work, late


def test_what_a_lane_held_beyond_its_backlog_and_could_not_start_in_time_is_handed_back(monkeypatch) -> None:
    # A lane whose rate is not known yet holds up to its ceiling; an endpoint slower than that trust gets
    # what waited past HOLD_SECONDS beyond the backlog deferred, and keeps its backlog.
    monkeypatch.setattr(lanes, "HOLD_SECONDS", 0.05)

    async def scenario() -> list[str]:
        lane = Lane(concurrency=1, backlog=3, breaker=CircuitBreaker(), ceiling=100)
        assert lane.capacity == 100
        gate = asyncio.Event()
        events: list[str] = []
        work, late = _recorded(gate, events)
        tasks = [lane.submit(None, work(str(n)), late(str(n))) for n in range(10)]
        await until(lambda: lane.pending <= 3, what="what is beyond the backlog handed back")
        gate.set()
        await asyncio.gather(*tasks)
        return events

    events = asyncio.run(scenario())
    late = {int(e.split()[1]) for e in events if e.startswith("late")}
    ran = {int(e.split()[1]) for e in events if e.startswith("ran")}
    # Which of the equally waiting ones are handed back is not part of the contract: on a loaded machine
    # asyncio.wait_for resumes a timeout of 0 a loop turn before a timer's, so 8 may go before 7.
    assert len(late) == 7 and len(ran) == 3 and late | ran == set(range(10))
    assert 0 in ran  # the one holding the slot is never handed back


@pytest.mark.parametrize("other_has_work", [False, True])
def test_what_waited_too_long_is_handed_back_only_while_another_lane_has_room(monkeypatch, other_has_work) -> None:
    # Every lane with work full: the sender is what is short, and a deferral would only add to its work, so
    # the late ones keep waiting for their turn. Beside a lane with work and room they are handed back.
    monkeypatch.setattr(lanes, "HOLD_SECONDS", 0.05)

    async def scenario() -> tuple[list[str], int, int]:
        pool = Lanes(1, 3, CircuitBreaker, ceiling=100)
        slow, other = pool["slow"], pool["other"]
        asked = [0]
        room = slow.room_elsewhere

        def counted() -> bool:
            asked[0] += 1
            return room()

        slow.room_elsewhere = counted
        gate = asyncio.Event()
        events: list[str] = []
        work, late = _recorded(gate, events)
        tasks = []
        if other_has_work:
            tasks.append(other.submit(None, work("other"), late("other")))
        tasks += [slow.submit(None, work(str(n)), late(str(n))) for n in range(10)]
        # Every waiter beyond the backlog asks once when its HOLD_SECONDS are up (all 9 while none is handed
        # back; 7 when each answer takes one out, after which the lane is down to its backlog).
        await until(lambda: asked[0] >= (7 if other_has_work else 9), what="the late waiters decided")
        pending = slow.pending
        gate.set()
        await asyncio.gather(*tasks)
        return events, pending, asked[0]

    events, pending, asked = asyncio.run(scenario())
    late = [e for e in events if e.startswith("late")]
    if other_has_work:
        assert (pending, len(late), asked) == (3, 7, 7)
    else:
        assert (pending, late, asked) == (10, [], 9)
        assert len([e for e in events if e.startswith("ran")]) == 10
