"""A member's stored value: progress, watermark, and the applied log of values written before watermarks."""

from __future__ import annotations

import time
from typing import Any

import orjson

from loyalty_stream.domain import MemberState
from processors.tables import MemberStates


class Table(dict[tuple[int, bytes], bytes | None]):
    """The two calls MemberStates makes of processors.tables.ChangelogTable."""

    def set(self, partition: int, key: bytes, value: bytes) -> None:
        self[(partition, key)] = value

    def get(self, partition: int, key: bytes) -> Any:  # type: ignore[override]
        return super().get((partition, key))


def test_round_trip_with_watermark() -> None:
    table = Table()
    states = MemberStates(table, window_seconds=3600)  # type: ignore[arg-type]
    states.save(3, b"S:c", MemberState.empty(), (17, 2), {})
    stored = states.load(3, b"S:c")
    assert stored.watermark == (17, 2) and stored.legacy == {} and stored.state == MemberState.empty()
    assert orjson.loads(table[(3, b"S:c")]) == {"p": {}, "w": [17, 2]}
    assert states.load(3, b"S:other").watermark is None


def test_an_older_value_s_applied_log_counts_until_the_window_is_over() -> None:
    now = time.time()
    log = {"recent": {"t": now - 10, "o": {"s": "counted"}}, "old": {"t": now - 7200, "o": {"s": "counted"}}}
    table = Table({(0, b"S:c"): orjson.dumps({"p": {}, "a": log})})
    states = MemberStates(table, window_seconds=3600)  # type: ignore[arg-type]
    stored = states.load(0, b"S:c")
    assert set(stored.legacy) == {"recent", "old"} and stored.watermark is None
    states.save(0, b"S:c", stored.state, (5, 0), stored.legacy)
    assert set(orjson.loads(table[(0, b"S:c")])["a"]) == {"recent"}
