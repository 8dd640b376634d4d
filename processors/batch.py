"""One batch of an agent's work: its records go out through librdkafka, its table writes after them, and only
then does faust learn the batch was handled.

    outputs (wave 1) ──acked──▶ table changelogs (wave 2) ──acked──▶ local stores ──▶ faust acknowledges

Why in that order (docs/reliability.md):
- A table value reaches the changelog only once every output of the batch is on the broker. A kill -9 at any
  instant therefore leaves either no changelog record of a member's change (the re-delivered events are
  applied again, and give the same outputs, with the same messageIds), or the record with all its outputs
  already sent. A wave carries the table writes of several chunks only when every one of them, and every
  chunk before them, has its outputs on the broker (``Pipeline``).
- The local store is written only once the changelog has the value: the local store is never ahead of the
  changelog, so what a restarted worker finds locally and what a worker taking the partition over restores
  from the changelog are the same.
- faust commits only offsets of acknowledged events, so a committed offset never covers a record whose
  outputs or state could still be lost.

The producer is confluent-kafka (librdkafka): a produce is a few microseconds where an awaited send through
faust's aiokafka producer was a few hundred (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from confluent_kafka import KafkaError, KafkaException, Message

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import producer as make_producer

log = logging.getLogger(__name__)

Headers = Sequence[tuple[str, bytes]] | dict[str, bytes]
RETRY_PAUSE = 1.0  # before records the broker refused are produced again


class Delivery:
    """A set of produced records being waited for. Delivery reports arrive on the producer's poll thread (the
    only thread that counts them); the waiter on the event loop is woken once, when the last one has arrived.
    No lock: the waiter is published before it checks the count a last time, so a report arriving in between
    is seen by one side or the other. ``offsets``: also keep the last offset written per partition (what a
    table's changelog needs; outputs do not)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, offsets: bool = False) -> None:
        self._loop = loop
        self._sent = 0
        self._done = 0
        self._waiter: asyncio.Future[None] | None = None
        self.failed: list[tuple[Message, KafkaError]] = []
        self.last_offsets: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset written
        self.on_delivery = self._counted_with_offsets if offsets else self._counted

    def sent(self) -> None:
        self._sent += 1  # on the event loop, before librdkafka can report it

    def _counted(self, err: KafkaError | None, msg: Message) -> None:
        self._done += 1
        if err is not None:
            self.failed.append((msg, err))
        if self._done == self._sent and (waiter := self._waiter) is not None:
            self._loop.call_soon_threadsafe(_settle, waiter)

    def _counted_with_offsets(self, err: KafkaError | None, msg: Message) -> None:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if err is None and topic is not None and partition is not None and offset is not None:
            where = (topic, partition)
            if offset > self.last_offsets.get(where, -1):
                self.last_offsets[where] = offset
        self._counted(err, msg)

    async def wait(self) -> None:
        if self._done == self._sent:
            return
        self._waiter = waiter = self._loop.create_future()
        if self._done != self._sent:
            await waiter
        self._waiter = None

    @property
    def pending(self) -> int:
        return self._sent - self._done


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class OutputProducer:
    """The processor's librdkafka producer (idempotent, acks=all, Java's murmur2 partitioner so keyed records
    land where faust's producer put them before), with a thread that serves its delivery reports."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: Any = None
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    def start(self) -> None:
        self._producer = make_producer(
            self._settings,
            **{
                "linger.ms": 2,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 1_000_000,
                "queue.buffering.max.kbytes": 1_048_576,
                "batch.num.messages": 10_000,
                # librdkafka retries a failed produce itself up to this; past it the batch produces it again.
                "message.timeout.ms": 60_000,
            },
        )
        self._poller = threading.Thread(target=self._poll, name="processor-producer-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def produce(
        self,
        delivery: Delivery,
        topic: str,
        value: bytes | None,
        key: bytes | None = None,
        partition: int = -1,  # librdkafka's "unassigned": the partitioner picks
        headers: Headers | None = None,
    ) -> None:
        produce = self._producer.produce
        while True:
            try:
                if headers:  # dead letters: rare
                    produce(topic, value, key, partition, on_delivery=delivery.on_delivery, headers=headers)
                else:  # positional: half the cost of keywords, which showed in the profile (~9 records/event)
                    produce(topic, value, key, partition, delivery.on_delivery)
                break
            except BufferError:  # the local queue is full: let librdkafka send some
                self._producer.poll(0.01)
        delivery.sent()

    async def settle(self, delivery: Delivery) -> None:
        """Wait until every record of ``delivery`` is on the broker; produce refused ones again (in their
        order) until they are. Never gives up: a batch is not acknowledged before its records are written."""
        await delivery.wait()
        while delivery.failed:
            failed = delivery.failed  # in the order librdkafka reported them: per partition, the produce order
            log.warning(
                "%d records not written (%s); producing them again in %.0f s",
                len(failed),
                failed[0][1].str(),
                RETRY_PAUSE,
            )
            await asyncio.sleep(RETRY_PAUSE)
            delivery.failed = []
            for msg, _err in failed:
                topic, partition, headers = msg.topic(), msg.partition(), msg.headers()
                assert topic is not None  # a produced record has its topic and partition
                self.produce(
                    delivery,
                    topic,
                    msg.value(),  # type: ignore[arg-type]
                    msg.key(),  # type: ignore[arg-type]
                    -1 if partition is None else partition,
                    headers,  # type: ignore[arg-type]
                )
            await delivery.wait()

    def close(self, timeout: float = 10.0) -> None:
        if self._producer is not None:
            self._producer.flush(timeout)
        self._stop.set()
        if self._poller is not None:
            self._poller.join(5)

    def brokers_reachable(self, timeout: float = 1.0) -> bool:
        try:
            self._producer.list_topics(timeout=timeout)
        except KafkaException:
            return False
        return True


class BatchTable(Protocol):
    """A table whose writes a batch holds back until its outputs are on the broker (processors/tables.py)."""

    def seal(self) -> Any: ...
    def produce_layers(self, layers: Sequence[Any], producer: OutputProducer, delivery: Delivery) -> None: ...
    def apply_layers(self, layers: Sequence[Any], delivery: Delivery) -> None: ...
    def discard_layers(self) -> None: ...


class Batch:
    """The records and table writes of one chunk of events. ``send`` produces at once (wave 1); the tables hold
    their writes until the chunk's outputs are on the broker (wave 2: ``write_tables``, alone by ``commit`` or
    with the chunks around it by a ``Pipeline``)."""

    def __init__(self, producer: OutputProducer, tables: Iterable[BatchTable]) -> None:
        self._producer = producer
        self._tables = tuple(tables)
        self._outputs = Delivery(asyncio.get_running_loop())
        self.layers: tuple[Any, ...] | None = None
        self.outputs_written = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # its table writes applied
        self.started = time.monotonic()

    def send(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | None = None,
        partition: int = -1,
        headers: Headers | None = None,
    ) -> None:
        self._producer.produce(self._outputs, topic, value, key, partition, headers)

    @property
    def records(self) -> int:
        return self._outputs._sent

    def seal(self) -> None:
        """The chunk's table writes are complete: later writes belong to the next chunk."""
        if self.layers is None:
            self.layers = tuple(table.seal() for table in self._tables)

    def sealed(self) -> tuple[Any, ...]:
        """Its table writes, one layer per table (``seal`` comes first)."""
        assert self.layers is not None, "a batch's table writes are written only once it is sealed"
        return self.layers

    async def settle_outputs(self) -> None:
        await self._producer.settle(self._outputs)
        self.outputs_written = True


async def write_tables(producer: OutputProducer, tables: Sequence[BatchTable], batches: Sequence[Batch]) -> None:
    """Wave 2 of ``batches`` (sealed in this order, every one's outputs on the broker): each key's newest value
    to the changelog, and once the broker has them, to the local store. One wave for every chunk whose outputs
    are written: the chain of waves is as fast as one changelog round trip, however small the chunks."""
    per_table = [[batch.sealed()[index] for batch in batches] for index in range(len(tables))]
    changes = Delivery(asyncio.get_running_loop(), offsets=True)
    for table, layers in zip(tables, per_table, strict=True):
        table.produce_layers(layers, producer, changes)
    await producer.settle(changes)
    for table, layers in zip(tables, per_table, strict=True):
        table.apply_layers(layers, changes)


class Pipeline:
    """An agent's chunks of events, each computed, then committed in the background while the agent goes on with
    the next; a chunk's events are acknowledged to faust (so their offsets may be committed) only once its table
    writes are applied. One writer task takes the table writes of every chunk whose outputs are on the broker,
    oldest first and never past one whose outputs are not, into one wave (``write_tables``), then the next: the
    newest value of a key is always the last one written, in the changelog and in the local store.

    faust's ``Stream.noack_take`` leaves the acknowledging to us; at a rebalance faust waits for every event it
    handed out to be acknowledged (``stream_wait_empty``), so no partition changes hands while a chunk of it is
    being committed."""

    def __init__(self, producer: OutputProducer, tables: Iterable[BatchTable], stream: Any, *, in_flight: int = 8):
        self._producer = producer
        self._tables = tuple(tables)
        self._stream = stream
        self._max_in_flight = in_flight
        self._commits: deque[asyncio.Task[None]] = deque()
        self._waiting: deque[Batch] = deque()  # sealed, table writes not yet applied, oldest first
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def chunk(self) -> Batch:
        return Batch(self._producer, self._tables)

    async def commit(self, batch: Batch, events: Sequence[Any]) -> None:
        """Start the chunk's commit; acknowledge its events when it is done. Waits while too many chunks are in
        flight, and raises if an earlier commit failed (the agent restarts; those events are never committed)."""
        batch.seal()
        self._waiting.append(batch)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write())
        self._commits.append(asyncio.ensure_future(self._commit_and_ack(batch, events)))
        while self._commits and (self._commits[0].done() or len(self._commits) > self._max_in_flight):
            await self._commits.popleft()

    async def _commit_and_ack(self, batch: Batch, events: Sequence[Any]) -> None:
        await batch.settle_outputs()
        self._wake.set()
        await asyncio.shield(batch.done)  # shielded: cancelling this task must not fail the writer's future
        for event in events:
            await self._stream.ack(event)

    async def _write(self) -> None:
        waiting = self._waiting
        wave: list[Batch] = []
        try:
            while True:
                while not (waiting and waiting[0].outputs_written):
                    self._wake.clear()
                    await self._wake.wait()
                wave = []
                while waiting and waiting[0].outputs_written:
                    wave.append(waiting.popleft())
                await write_tables(self._producer, self._tables, wave)
                for batch in wave:
                    batch.done.set_result(None)
        except BaseException as exc:
            failed = exc if isinstance(exc, Exception) else RuntimeError(f"table writes stopped: {exc!r}")
            for batch in (*wave, *waiting):
                if not batch.done.done():
                    batch.done.set_exception(failed)
                    batch.done.exception()  # retrieved: its commit task raises it to the agent
            raise

    def abort(self) -> None:
        """After a failure: forget every table write not yet committed; the chunks in flight fail after it."""
        for task in self._commits:
            task.cancel()
        self._commits.clear()
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        self._waiting.clear()
        for table in self._tables:
            table.discard_layers()
