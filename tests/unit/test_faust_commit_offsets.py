"""faust_compat fix 8: the offset faust commits counts every acknowledged offset once, also where a booked gap
covers records that were acknowledged already (faust's own moved such a partition one record per commit
interval: processors/faust_compat.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import faust
import pytest
from faust.transport.consumer import Consumer
from faust.types import TP

from processors import faust_compat

TOPIC = TP("loyalty.custom-events", 1)
FAUSTS_OWN = faust_compat._ORIGINALS[(Consumer, "_new_offset")]


def _commits(
    new_offset: object, committed: int | None, acked: Iterable[int], gaps: Iterable[tuple[int, int]] = ()
) -> list[int]:
    """The offsets successive commits of ``TOPIC`` reach, with ``new_offset`` as the consumer's method."""

    async def run() -> list[int]:
        app = faust.App(f"commit-offsets-{id(new_offset)}", broker="kafka://127.0.0.1:9", autodiscover=False)
        consumer = app.consumer
        consumer._committed_offset[TOPIC] = committed
        for offset in acked:  # what Consumer.ack books for each acknowledged record
            consumer._acked_index[TOPIC].add(offset)
            consumer._acked[TOPIC].append(offset)
        for first, last in gaps:  # as the fetch loop books a jump of the read offset
            await consumer._add_gap(TOPIC, first, last)
        reached: list[int] = []
        while (offset := new_offset(consumer, TOPIC)) is not None:  # type: ignore[operator]
            reached.append(offset)
            consumer._committed_offset[TOPIC] = offset
        return reached

    return asyncio.run(run())


def test_a_gap_over_acknowledged_records_lets_the_commit_reach_them_all_at_once() -> None:
    # Records 58..143 delivered and acknowledged; then a batch fetched before the seek back to 58 delivers
    # record 101 again: faust books 59..101 as a gap, over offsets it holds as acknowledged already.
    reached = _commits(faust_compat.new_offset, 58, range(58, 144), gaps=[(59, 101)])
    assert reached == [144]


def test_fausts_own_moves_such_a_partition_one_record_per_commit() -> None:
    # The shape the eighteenth campaign run showed (docs/reliability.md): the fix is needed.
    reached = _commits(FAUSTS_OWN, 58, range(58, 144), gaps=[(59, 101)])
    # One commit per record through the gap's offsets (each held twice), then the rest at once.
    assert reached == [*range(60, 103), 144]


def test_the_record_that_revealed_a_gap_is_counted_once() -> None:
    # Read offset 10, next record 15: faust books 11..15, and record 15 is acknowledged as well.
    reached = _commits(faust_compat.new_offset, 10, [10, 15, 16, 17], gaps=[(11, 15)])
    assert reached == [18]


@pytest.mark.parametrize(
    ("committed", "acked", "gaps", "expected"),
    [
        (None, range(1, 10), [], [10]),
        (34, [34, 35, 36, 40, 41, 42, 43, 44], [], [37]),  # faust's own example: up to the hole
        (31, [34, 35, 36, 37], [], []),  # faust's head-gap rule: nothing right above the commit
        (20, [20, 21, 30, 31], [(22, 29)], [32]),
        (20, [20, 21, 25], [(30, 40)], [22]),  # a gap above everything acknowledged waits
    ],
)
def test_without_repeats_it_commits_what_fausts_own_does(
    committed: int | None, acked: list[int], gaps: list[tuple[int, int]], expected: list[int]
) -> None:
    assert _commits(faust_compat.new_offset, committed, acked, gaps) == expected
    assert _commits(FAUSTS_OWN, committed, acked, gaps) == expected


def test_the_patch_is_installed() -> None:
    assert Consumer._new_offset is faust_compat.new_offset
