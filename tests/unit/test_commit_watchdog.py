"""faust_compat check 4: which partitions faust can no longer commit (pure; no faust, no broker)."""

from __future__ import annotations

from processors.faust_compat import CommitWatchdog


def test_a_head_gap_that_lasts_its_patience_is_stuck() -> None:
    watchdog = CommitWatchdog(patience=30)
    heads = {"p0": (109, 1106), "p1": (500, 501), "p2": (None, 40), "p3": (77, None)}
    assert watchdog.stuck(heads, now=0) == []
    assert watchdog.stuck(heads, now=29) == []
    assert watchdog.stuck(heads, now=30) == ["p0"], "only p0: acked 1106 while 109 is committed"


def test_a_commit_that_moves_restarts_the_clock() -> None:
    watchdog = CommitWatchdog(patience=30)
    watchdog.stuck({"p0": (109, 1106)}, now=0)
    watchdog.stuck({"p0": (110, 1106)}, now=20)  # the commit moved: not the same stall
    assert watchdog.stuck({"p0": (110, 1106)}, now=40) == []
    assert watchdog.stuck({"p0": (110, 1106)}, now=50) == ["p0"]


def test_a_gap_that_closes_is_forgotten() -> None:
    watchdog = CommitWatchdog(patience=30)
    watchdog.stuck({"p0": (109, 1106)}, now=0)
    watchdog.stuck({"p0": (109, 110)}, now=10)  # the records above the commit were acknowledged
    assert watchdog.stuck({"p0": (109, 1106)}, now=35) == []
