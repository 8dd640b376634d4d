"""The one consumer thread behind every in-memory copy of a topic: a plain consumer (no group, no commits)
that feeds every record of its topics, in order per partition, to a handler.

Every process that needs small shared data (schemas, achievements, subscriptions, members' identifiers, the
API's read models and webhook ledger) keeps its own copy, read from the beginning; the API's member replies
are read from the end at start-up (``from_end``). Faust's GlobalTable is avoided on purpose (missed updates
under rebalances). Positions are tracked per partition so callers can wait until the copy has caught up
with a write they know of (read-your-writes) or with the topic's end (readiness); after a broker error the
thread reconnects and resumes where it was, so no record is applied twice or skipped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import admin, consumer, end_offsets
from loyalty_stream.kafka.keys import split_key
from schemas.serde import DecodeError

log = logging.getLogger(__name__)

Keyed = tuple[tuple[str, str], dict[str, Any] | None]


def keyed_record(serde: Any, key: bytes | None, value: bytes | None, expect: str) -> Keyed | None:
    """A record of a compacted ``storeCode:id``-keyed topic as ((storeCode, id), record, or None for a
    tombstone); None, logged, when the key or the value cannot be read (a mirror skips it, never stops)."""
    parts = split_key(key)
    if parts is None:
        log.warning("%s record without a storeCode:id key ignored", expect)
        return None
    if value is None:
        return parts, None
    try:
        return parts, serde.decode(value, expect=expect)[1]
    except DecodeError as exc:
        log.warning("undecodable %s record %s: %s", expect, parts, exc)
        return None


Handler = Callable[[Message], None]
"""Called with every record (``msg.value()`` None is a tombstone), on the mirror's thread."""


class TopicMirror:
    """A consumer thread that feeds every record of ``topics`` to ``handler``, in order per partition."""

    def __init__(
        self,
        settings: Settings,
        topics: Iterable[str],
        handler: Handler,
        *,
        name: str = "mirror",
        from_end: bool = False,
    ) -> None:
        self._settings = settings
        self._from_end = from_end
        self._topics = list(topics)
        self._handler = handler
        self._name = name
        self._positions: dict[tuple[str, int], int] = {}
        self._started_ends: dict[tuple[str, int], int] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        # Coroutines waiting for positions, woken by the thread once reached (not by polling: 50 requests
        # polling every 2 ms kept the API's event loop busy with timers).
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None], Mapping[tuple[str, int], int]]] = []
        self._waiters_lock = threading.Lock()
        self._admin: AdminClient | None = None  # for sync's ListOffsets, made on first use and kept
        self.error: BaseException | None = None
        self.assigned = threading.Event()  # set once the thread reads its partitions

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _end_offsets(self, c: Consumer) -> dict[tuple[str, int], int]:
        return {(topic, p): high for topic in self._topics for p, high in end_offsets(c, topic, timeout=10).items()}

    async def sync(self, timeout: float) -> bool:
        """Wait until the copy holds every record written to its topics before now: their ends asked of the
        broker in one ListOffsets request. False at the deadline (also one the thread has not connected by)."""
        if self._started_ends is None and not await asyncio.to_thread(self.assigned.wait, timeout):
            return False
        assert self._started_ends is not None  # set before ``assigned``
        if self._admin is None:
            self._admin = admin(self._settings)
        wanted = {TopicPartition(t, p): OffsetSpec.latest() for t, p in self._started_ends}
        futures = self._admin.list_offsets(wanted, request_timeout=timeout)
        ends = {(tp.topic, tp.partition): (await asyncio.wrap_future(f)).offset for tp, f in futures.items()}
        return await self.wait_async(ends, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception as exc:  # keep the copy alive across broker restarts
                self.error = exc
                log.warning("mirror %s restarting after error: %r", self._name, exc)
                self._stop.wait(1.0)

    def _consume(self) -> None:
        c = consumer(self._settings, group=f"unused-{self._name}", **{"enable.partition.eof": False})
        try:
            ends = self._end_offsets(c)
            if self._started_ends is None:
                self._started_ends = ends
                if self._from_end:
                    self._positions.update(ends)  # what was there before start-up is not ours to read
            # Resume where we were after an error: records already applied are not applied twice.
            c.assign([TopicPartition(t, p, self._positions.get((t, p), 0) or OFFSET_BEGINNING) for t, p in ends])
            self.assigned.set()
            self._wake_waiters()
            while not self._stop.is_set():
                # consume(n, timeout) waits for n records or the whole timeout (200 ms on every read-your-
                # writes wait): block for one record, then take what else is already there.
                first = c.poll(0.2)
                if first is None:
                    continue
                for msg in (first, *c.consume(500, 0)):
                    err = msg.error()
                    if err is not None:
                        if err.code() != KafkaError._PARTITION_EOF:
                            log.warning("mirror %s: %s", self._name, err)
                        continue
                    topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                    if offset < self._positions.get((topic, partition), 0):
                        continue
                    try:
                        self._handler(msg)
                    except Exception:
                        log.exception("mirror %s: cannot apply %s/%s@%s", self._name, topic, partition, offset)
                    self._positions[(topic, partition)] = offset + 1
                with self._changed:
                    self._changed.notify_all()
                if self._waiters:
                    self._wake_waiters()
                self.error = None
        finally:
            c.close()

    # -- positions -----------------------------------------------------------------------------
    def position(self, topic: str, partition: int = 0) -> int:
        return self._positions.get((topic, partition), 0)

    def reached(self, offsets: Mapping[tuple[str, int], int]) -> bool:
        return all(self._positions.get(tp, 0) >= off for tp, off in offsets.items())

    @property
    def caught_up(self) -> bool:
        """True once everything that was in the topics when we started has been applied."""
        return self._started_ends is not None and self.reached(self._started_ends)

    def wait(self, offsets: Mapping[tuple[str, int], int], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self.reached(offsets):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))
        return True

    async def wait_async(self, offsets: Mapping[tuple[str, int], int], timeout: float) -> bool:
        if self.reached(offsets):
            return True
        loop = asyncio.get_running_loop()
        entry = (loop, loop.create_future(), offsets)
        with self._waiters_lock:
            self._waiters.append(entry)
        try:
            if not self.reached(offsets):  # reached between the first look and the registration: no wake-up
                await asyncio.wait_for(entry[1], timeout)
        except TimeoutError:
            return self.reached(offsets)
        finally:
            with self._waiters_lock:
                self._waiters.remove(entry)
        return True

    def _wake_waiters(self) -> None:
        with self._waiters_lock:
            woken = [(loop, future) for loop, future, offsets in self._waiters if self.reached(offsets)]
        for loop, future in woken:
            loop.call_soon_threadsafe(_wake, future)

    def wait_caught_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.caught_up:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
