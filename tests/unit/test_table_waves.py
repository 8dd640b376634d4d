"""The batch's commit chain (processors/batch.py, processors/tables.py) with a producer whose broker answers when
the test says so: a chunk's table writes reach the changelog only after its outputs and every earlier chunk's
are written, chunks whose outputs are written share one wave, and each key's newest value is the last one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from processors.batch import Delivery, Pipeline
from processors.tables import ChangelogTable


class Broker:
    """Records produced through it; ``answer(topic)`` acknowledges every unanswered record of that topic."""

    def __init__(self) -> None:
        self.log: list[tuple[str, bytes | None, bytes | None]] = []  # (topic, key, value) in produce order
        self._unanswered: list[tuple[str, Delivery, int]] = []

    def produce(
        self,
        delivery: Delivery,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int = -1,
        *_: Any,
    ) -> None:
        self.log.append((topic, key, value))
        delivery.sent()
        self._unanswered.append((topic, delivery, len(self.log) - 1))

    def answer(self, topic: str) -> None:
        keep = []
        for where, delivery, offset in self._unanswered:
            if where == topic:
                delivery.on_delivery(None, _Written(where, offset))  # type: ignore[arg-type]
            else:
                keep.append((where, delivery, offset))
        self._unanswered = keep

    async def settle(self, delivery: Delivery) -> None:
        await delivery.wait()

    def on(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        return [(key, value) for where, key, value in self.log if where == topic]


class _Written:
    def __init__(self, topic: str, offset: int) -> None:
        self._topic, self._offset = topic, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset


class Local:
    """The local store's two calls: reads, and one write per partition with the changelog offset."""

    def __init__(self) -> None:
        self.values: dict[bytes, bytes | None] = {}
        self.writes: list[tuple[int, list[tuple[bytes, bytes | None]], int | None]] = []

    def get(self, partition: int, key: bytes) -> bytes | None:
        return self.values.get(key)

    def write(self, partition: int, writes: list[tuple[bytes, bytes | None]], *, persisted_offset: int | None) -> None:
        self.writes.append((partition, writes, persisted_offset))
        self.values.update(writes)


class Stream:
    def __init__(self) -> None:
        self.acked: list[str] = []

    async def ack(self, event: str) -> None:
        self.acked.append(event)


@dataclass
class Setup:
    """One table on a ``Local`` store, committed through a ``Pipeline`` by a ``Broker`` the test answers."""

    broker: Broker = field(default_factory=Broker)
    stream: Stream = field(default_factory=Stream)
    local: Local = field(default_factory=Local)

    def __post_init__(self) -> None:
        self.table = ChangelogTable.__new__(ChangelogTable)
        self.table.local, self.table.topic = self.local, "changelog"  # type: ignore[assignment]
        self.table.pending, self.table.sealed, self.table.unapplied = {}, [], {}
        self.pipeline = Pipeline(self.broker, (self.table,), self.stream)  # type: ignore[arg-type]


async def _settled() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_table_writes_wait_for_every_earlier_chunk_s_outputs_and_share_one_wave() -> None:
    async def run() -> None:
        setup = Setup()
        broker, stream, local, table, pipeline = setup.broker, setup.stream, setup.local, setup.table, setup.pipeline
        first = pipeline.chunk()
        first.send("out-a", b"1")
        table.set(0, b"k", b"v1")
        await pipeline.commit(first, ["e1"])
        second = pipeline.chunk()
        second.send("out-b", b"2")
        table.set(0, b"k", b"v2")
        table.set(0, b"j", b"w2")
        await pipeline.commit(second, ["e2"])
        assert table.get(0, b"k") == b"v2"  # reads see the newest write before any is committed

        broker.answer("out-b")  # the second chunk's outputs are written, the first's are not
        await _settled()
        assert broker.on("changelog") == [] and stream.acked == []

        broker.answer("out-a")
        await _settled()
        # One wave for both chunks: one record per key, its newest value.
        assert broker.on("changelog") == [(b"k", b"v2"), (b"j", b"w2")]
        assert local.writes == [] and stream.acked == []  # the local store only after the changelog has them

        broker.answer("changelog")
        await _settled()
        assert local.values == {b"k": b"v2", b"j": b"w2"}
        assert [offset for _p, _w, offset in local.writes] == [3]  # the changelog offset reached, in one write
        assert stream.acked == ["e1", "e2"] and table.unapplied == {} and table.sealed == []
        pipeline.abort()

    asyncio.run(run())


def test_a_key_written_again_while_an_earlier_wave_is_in_flight_keeps_its_newest_value() -> None:
    async def run() -> None:
        setup = Setup()
        broker, stream, local, table, pipeline = setup.broker, setup.stream, setup.local, setup.table, setup.pipeline
        first = pipeline.chunk()
        table.set(0, b"k", b"v1")
        await pipeline.commit(first, ["e1"])
        await _settled()
        assert broker.on("changelog") == [(b"k", b"v1")]  # no outputs: its wave starts at once

        second = pipeline.chunk()
        table.delete(0, b"k")
        await pipeline.commit(second, ["e2"])
        await _settled()
        assert broker.on("changelog") == [(b"k", b"v1")]  # waits for the wave before it

        broker.answer("changelog")
        await _settled()
        assert local.values == {b"k": b"v1"} and table.get(0, b"k") is None  # the newer delete still wins reads
        broker.answer("changelog")
        await _settled()
        assert broker.on("changelog")[-1] == (b"k", None) and local.values == {b"k": None}
        assert stream.acked == ["e1", "e2"] and table.unapplied == {}
        pipeline.abort()

    asyncio.run(run())
