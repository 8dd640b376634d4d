"""faust_compat check 4: which partitions faust can no longer commit (pure; no faust, no broker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from processors.faust_compat import CommitWatchdog, GiveUp, commit_heads


def test_acknowledged_records_below_a_commit_that_does_not_move_are_stuck() -> None:
    watchdog = CommitWatchdog(patience=30)
    heads = {"p0": (109, 1106, False), "p1": (500, 501, False), "p2": (None, 40, False), "p3": (77, None, False)}
    assert watchdog.stuck(heads, now=0) == []
    assert watchdog.stuck(heads, now=29) == []
    # p0: a head gap; p1 and p2: acknowledged but never committed for 30 s; p3: nothing waiting
    assert watchdog.stuck(heads, now=30) == ["p0", "p1", "p2"]


def test_a_commit_that_moves_restarts_the_clock() -> None:
    watchdog = CommitWatchdog(patience=30)
    watchdog.stuck({"p0": (109, 1106, False)}, now=0)
    watchdog.stuck({"p0": (110, 1106, False)}, now=20)  # the commit moved: not the same stall
    assert watchdog.stuck({"p0": (110, 1106, False)}, now=40) == []
    assert watchdog.stuck({"p0": (110, 1106, False)}, now=50) == ["p0"]


def test_a_partition_with_nothing_waiting_is_forgotten() -> None:
    watchdog = CommitWatchdog(patience=30)
    watchdog.stuck({"p0": (109, 1106, False)}, now=0)
    watchdog.stuck({"p0": (109, None, False)}, now=10)  # everything acknowledged was committed
    assert watchdog.stuck({"p0": (109, 1106, False)}, now=35) == []
    assert watchdog.stuck({"p0": (109, 1106, False)}, now=65) == ["p0"]


def test_a_partition_idle_behind_its_end_for_its_patience_is_stuck() -> None:
    watchdog = CommitWatchdog(patience=30)
    assert watchdog.stuck({"p2": (199, None, True), "p3": (0, None, True)}, now=0) == []
    assert watchdog.stuck({"p2": (199, None, True), "p3": (0, None, True)}, now=31) == ["p2", "p3"]
    watchdog = CommitWatchdog(patience=30)
    watchdog.stuck({"p2": (199, None, True)}, now=0)
    watchdog.stuck({"p2": (199, None, False)}, now=10)  # read again (something in flight): not a stall
    assert watchdog.stuck({"p2": (199, None, True)}, now=35) == []


@dataclass(frozen=True)
class _TP:
    topic: str
    partition: int


@dataclass(frozen=True)
class _Message:
    tp: _TP


@dataclass
class _Topics:
    def acks_enabled_for(self, topic: str) -> bool:
        return not topic.endswith("-changelog")


@dataclass
class _App:
    topics: _Topics = field(default_factory=_Topics)


@dataclass
class _Consumer:
    """faust's Consumer as commit_heads reads it."""

    assigned: list[_TP]
    _acked: dict[_TP, list[int]]
    _committed_offset: dict[_TP, int | None]
    _unacked_messages: set[_Message]
    app: _App = field(default_factory=_App)

    def assignment(self) -> list[_TP]:
        return self.assigned


@dataclass
class _Broker:
    committed: dict[_TP, int | None]
    ends: dict[_TP, int]
    asked: list[list[_TP]] = field(default_factory=list)

    async def __call__(self, _consumer: Any, tps: list[_TP]) -> tuple[dict[_TP, int | None], dict[_TP, int]]:
        self.asked.append(tps)
        return {tp: self.committed.get(tp) for tp in tps}, {tp: self.ends[tp] for tp in tps}


def test_commit_heads_reads_every_partition_as_the_broker_has_it() -> None:
    busy, behind, done, changelog, fresh, held = (_TP("events", 0), _TP("events", 1), _TP("events", 2),
                                                 _TP("t-changelog", 0), _TP("events", 3), _TP("events", 4))  # fmt: skip
    consumer = _Consumer(
        assigned=[busy, behind, done, changelog, fresh, held],
        _acked={busy: [12, 13], held: [900]},
        # faust believes 216 committed on "behind"; the broker holds 199 (what the campaign's seed 3 left). On
        # "held" faust acknowledges and believes it commits, the broker's commit stays at 490 of 1144 (what
        # three seeds of 2026-12-03 left): the broker's view is the one a restart reads from
        _committed_offset={busy: 12, behind: 216, done: 50, changelog: None, fresh: None, held: 1144},
        _unacked_messages={_Message(busy)},
    )
    broker = _Broker(
        committed={busy: 12, behind: 199, done: 50, fresh: None, held: 490},
        ends={busy: 14, behind: 216, done: 50, fresh: 0, held: 1144},
    )
    heads: dict[Any, Any] = asyncio.run(commit_heads(consumer, broker))
    assert broker.asked == [[busy, behind, done, fresh, held]]  # not the changelog: faust commits no offsets there
    assert heads == {
        busy: (12, 12, True),
        behind: (199, None, True),
        done: (50, None, False),
        fresh: (None, None, False),
        held: (490, 900, True),
    }


def test_a_broker_commit_that_does_not_move_under_acknowledged_records_is_stuck() -> None:
    watchdog, held = CommitWatchdog(patience=30), _TP("events", 4)
    assert watchdog.stuck({held: (490, 900, True)}, 0.0) == []
    assert watchdog.building(10.0) == []
    assert watchdog.building(16.0) == [held] and watchdog.building(20.0) == []  # told once, at half the patience
    assert watchdog.stuck({held: (490, 950, True)}, 31.0) == [held]  # faust moved on; the broker did not


def test_a_worker_gives_up_when_no_check_is_answered_for_its_limit() -> None:
    give_up = GiveUp(unanswered_limit=90)
    assert not give_up.after_unanswered(100.0) and not give_up.after_unanswered(150.0)
    give_up.answered()  # one answer starts the count again
    assert not give_up.after_unanswered(170.0) and give_up.after_unanswered(260.0)


def test_a_worker_gives_up_when_a_stall_comes_back_soon_after_its_rebalance() -> None:
    give_up = GiveUp(stuck_again_limit=120)
    assert give_up.after_stall(100.0) is False  # the first: a rebalance
    assert give_up.after_stall(400.0) is False  # long after: another rebalance
    assert give_up.after_stall(450.0) is True  # soon after that one: a restart


def _processor(monkeypatch: Any, check: Any) -> Any:
    """A Processor with nothing but what its commit timer reads, and ``check`` as its broker question."""
    import processors.app as app_module

    monkeypatch.setattr(app_module, "commit_heads", check)
    proc = object.__new__(app_module.Processor)
    proc._checks, proc.give_up, proc.commit_watchdog = 0, GiveUp(), CommitWatchdog()
    proc.app = SimpleNamespace(rebalancing=False, in_recovery=False, consumer=object())
    return proc


def test_the_commit_timer_outlives_a_check_cancelled_or_failing_under_it(monkeypatch: Any) -> None:
    # faust's timer loop ends for good when its function raises: the watchdog would go silent (campaign seed 9)
    async def cancelled_under_it(_consumer: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        future.cancel()  # as the consumer thread's restart does to a call waiting on it
        return await future

    async def failing(_consumer: Any) -> Any:
        raise RuntimeError("a bug in the check")

    for check in (cancelled_under_it, failing):
        proc = _processor(monkeypatch, check)
        asyncio.run(proc._watch_commits())  # returns: the next tick looks again
        assert proc._checks == 1


def test_the_commit_timer_stops_with_the_worker(monkeypatch: Any) -> None:
    async def forever(_consumer: Any) -> Any:
        await asyncio.Event().wait()

    proc = _processor(monkeypatch, forever)

    async def scenario() -> None:
        task = asyncio.create_task(proc._watch_commits())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
