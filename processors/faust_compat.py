"""Workarounds for faust-streaming 0.15.3 (aiokafka 0.14.0, mode-streaming 0.7.1): records lost or idle after
rebalance, and faust's own cost per record.

Import this module before the faust app starts; ``install()`` runs on import and is idempotent. Fixes 1-3 are
faults that show after a rebalance, e.g. when a worker is killed and another takes its partitions over; all were
seen in ``tests/integration/test_faust_platform.py`` or the crash campaign and are fixed here, each by the
smallest change we found.

1. Uncommitted partitions are not "sought back" (``AIOKafkaConsumerThread.seek_to_committed``)
   faust's fetcher loop (``Consumer.getmany``) throws away a batch that comes back while the flow is stopped
   (a rebalance is in progress: "getmany called while flow not active. Seek back to committed offsets") and
   relies on ``perform_seek()`` -> ``AIOKafkaConsumer.seek_to_committed()`` to rewind. aiokafka has already
   moved its position past the batch, and ``seek_to_committed`` only seeks ``if offset and offset > 0``: a
   partition with no committed offset (or committed offset 0) stays past the thrown-away records, which are
   then never processed (the worker idles at the end of the partition). Such batches are routine: the
   pending ``getmany`` (1 s timeout) straddles the rebalance, and faust passes aiokafka its live
   ``_active_partitions`` set, which the rebalance empties, and aiokafka's ``fetched_records`` reads an empty
   set as "every partition". Fix: after aiokafka's seek, every assigned partition of a topic faust commits
   offsets for (agent input topics; not changelogs, which table recovery positions itself, nor faust's leader
   topic) that has no committed offset is reset by the consumer's ``auto_offset_reset`` policy, as aiokafka
   does for a freshly assigned partition, and one committed at 0 is sought to 0.

2. Events dropped when recovery resumes the streams (``mode.utils.queues.FlowControlEvent.resume``)
   At the end of table recovery (``Recovery.on_recovery_completed``) faust resumes the stream partitions,
   seeks them to their committed offsets and then calls ``app.flow_control.resume()``, all while the flow is
   already running (recovery resumed it earlier to read changelogs). mode's ``resume()`` clears every
   ``clear_on_resume`` queue (each agent's channel, the tables' changelog queue) on every call, so the events
   the fetcher delivered in the meantime are thrown away; faust's ``_read_offset`` has already moved past
   them, so the re-read after the seek drops them too ("DROPPED MESSAGE ROFF"), and the jump of the read
   offset is booked as a gap that lets the commit move past them: lost for good. Fix: ``resume()`` clears the
   queues only when the flow really was suspended. At a rebalance faust suspends and clears the flow itself
   (``App._on_partitions_revoked``) and streams skip events of an older generation, so the clear on the
   transition from suspended to running, which stays, is all that clearing is for.

3. A group left with no partitions after a broker restart (aiokafka ``GroupCoordinator._perform_assignment``)
   A worker that (re)joins while the broker is restarting can be elected leader while its cluster metadata
   lists none of the subscribed topics yet. faust's assignor skips them ("Ignoring missing topic") and hands
   every member an empty assignment. aiokafka notices when the topics show up (the leader keeps a snapshot of
   the partitions per topic and rejoins when a metadata update changes it), but only at the next metadata
   refresh, ``consumer_metadata_max_age_ms`` later (5 min by default): until then no worker processes
   anything (the crash campaign's seed 6 saw the whole group idle for 4 min). Plain aiokafka consumers do the
   same (``tests/integration/test_faust_platform.py::test_leader_rejoins_when_missing_topics_appear``). Fix:
   after an assignment that found a subscribed topic without partitions, the leader refreshes the metadata
   (0.5 s, doubling up to 5 s) until the topics have partitions, the group rebalances again, or the consumer
   closes; aiokafka's own listener then requests the rejoin. ``processors/app.py`` also lowers the metadata
   max age to 60 s as a backstop.

4. A commit that can never move again (``CommitWatchdog``, a check the processor runs, not a patch)
   faust commits up to the first run of consecutive acknowledged offsets, and not at all while the oldest
   acknowledged offset is more than one past the committed one (``Consumer._new_offset``). When records just
   above the committed offset are never acknowledged, that partition's commit stays where it is for the
   rest of the worker's life, and those records are processed only by whoever reads the partition next. Two
   paths in faust's source lead there: ``_new_offset`` removes the acknowledged offsets it is about to
   commit before the commit runs, so a commit that raises (``producer.flush()`` with the broker away) or is
   cancelled loses them; and a batch fetched before a rebalance's seek but handled after it moves faust's
   read offset past the records the seek re-reads, which faust then drops ("DROPPED MESSAGE ROFF").
   The campaign's stuck commits showed two more shapes, both after a broker restart with everything
   processed: a worker that committed nothing for its whole life while acknowledging (eighth run, seed 2), and
   a partition with nothing acknowledged whose broker commit stayed behind its end (fifth and seventh runs,
   seed 3). The check therefore looks every 5 s at each partition faust commits offsets for, as the broker has
   it: a broker commit that has not moved for 30 s while acknowledged records wait above it or the broker's
   end lies past it makes the worker ask for a rebalance, after which faust seeks to the committed offset and
   re-reads (evaluate counts each event once); a worker whose checks go unanswered, or whose rebalance did not
   help, exits for a restart (``GiveUp``). Not while the
   app is rebalancing or recovering (partitions are paused then). The log line carries faust's read offset,
   pause state and whether a commit is pending, to find the cause next time (docs/reliability.md).

5. Four tasks and an ``asyncio.wait`` per record (``Consumer._drain_messages``), a performance fix
   faust hands every fetched record to the conductor inside ``Service.wait_first(callback(message),
   suspend_flow.wait())``: four ``ensure_future`` tasks (the callback, the suspend event, the service's stopped
   and crashed events) and an ``asyncio.wait`` per record, so that a callback blocked on a full stream buffer
   is abandoned when a rebalance suspends the flow. That bookkeeping was the largest part of faust's own cost
   per record (a bare agent: ~13,500 records/s on the development machine, docs/benchmarks.md). Fix: one
   ``wait_first`` per fetched batch around a coroutine that delivers the batch's records one after another,
   checking before each record what faust's ``getmany`` checks (the flow still active, the same consumer
   generation) and keeping faust's read-offset, gap and ``broker_commit_every`` bookkeeping per record; a
   suspend cancels the delivery at the record it blocks on, whose read offset is then left unset (faust set
   it although the record was never delivered; the seek after the rebalance reads it again either way).
   Records are delivered in the same order, one at a time, to the same callback.
   ``tests/integration/test_faust_platform.py::test_batched_delivery_creates_no_task_per_record`` counts the
   tasks created while a bare agent drains a topic (the patched loop makes ~0 per record, faust's ~4).
   Written up for upstream in docs/faust-upstream.md.

6. A fetch that holds back every partition of the worker for 1.5 s (``AIOKafkaConsumerThread._create_worker_consumer``)
   faust creates its aiokafka consumer with ``fetch_max_wait_ms=1500``, written into the call (no setting).
   aiokafka sends one fetch request per broker at a time, for the partitions that hold no unread records when
   it is sent; the broker holds it until one of them has data or the wait is over. Under steady load the
   request is often sent while the partitions with traffic still have records waiting to be read: it then
   covers only quiet ones (the control-plane topics, a member-events partition) and holds for the full 1.5 s,
   during which nothing more is fetched for any partition; the records of those 1.5 s then come as one batch
   of 2,000. That was the latency phase's seconds at 2,000 events/s with the worker half idle (a trace of the
   fetch loop: empty ``getmany`` calls of exactly 1 s, then 2,000 records 1.7 s old; docs/benchmarks.md). Fix:
   the consumer faust creates gets the wait the app sets (``LOYALTY_PROCESSOR_FETCH_MAX_WAIT_MS``, 20 ms by
   default): a request over quiet partitions comes back within it and the next one covers the busy ones.
   An idle worker then asks the broker ~50 times a second instead of less than once.
   ``tests/unit/test_faust_fetch_wait.py`` fails without it (the consumer faust builds keeps 1,500 ms).

7. A 100 ms stall of every fetch when a changelog partition first gets records (the fetcher's ``_prefetch_backoff``)
   aiokafka keeps a partition's fetched records until the application takes them, and while any partition of a
   broker holds records younger than ``prefetch_backoff`` (0.1 s, not a consumer argument) it sends that broker
   no fetch at all, for any partition; the application taking records wakes it early. faust "pauses" the
   changelog partitions of its tables after recovery only in its own books (``Consumer.pause_partitions``):
   aiokafka still fetches them, and faust's ``getmany`` never takes what comes. So the first time each
   changelog partition gets a record (the processor writes its changelogs itself) every fetch of the worker
   waits the full 100 ms: 24 such stalls, several at once, in the first second or two of traffic after every
   start, each one on both hops (input, then member-events). That was the e2e phase's tail at 50 events/s
   right after ready (p99 167-177 ms in the first 30 s against 24 ms in the next 30; a trace by hop showed
   the input hop and the member-events hop each stepping in 100 ms; docs/benchmarks.md). Fix: the worker's
   fetcher gets no prefetch backoff: a partition with records not taken yet is still left out of the next
   fetch (aiokafka never fetches a partition twice ahead), the others are fetched at once.
   ``tests/integration/test_faust_prefetch_backoff.py`` fails without it (the started consumer keeps 0.1 s).

8. A commit that moves one record per commit interval (``Consumer._new_offset``)
   faust commits up to the end of the first run of consecutive offsets in its sorted list of acknowledged
   offsets, after adding to that list every offset of a "gap" (offsets the fetcher jumped over, booked by
   ``_add_gap``). It adds them without asking whether they were acknowledged already, and a gap often covers
   acknowledged records: the booked interval includes the record that revealed the gap (which is then
   acknowledged as well), and a batch fetched before a seek back (the end of recovery seeks to the committed
   offset) and delivered after it books a gap over everything it already delivered. A list such as
   58 58 59 59 60 60 ... holds runs of one record (a run stops at a repeat), so each commit moves the partition
   by one record, once per commit interval (2.8 s), and the oldest acknowledged offset sits one below the
   commit: the eighteenth campaign run's seed 9 ended 1,244 records behind with everything applied, and a fresh
   ``make test`` failed once on it (docs/reliability.md, "One cause found"). Fix: the same computation with each
   offset counted once, and the whole of a merged gap interval taken out of the gap (faust leaves its last
   offset behind when the interval reaches past the highest acknowledged one, to be added again later).
   ``tests/unit/test_faust_commit_offsets.py`` fails without it (faust's own returns the commit plus one).

Helpers that reach into faust, kept here so no other module does: ``LocalStore`` (a table's local RocksDB
store, read and written per partition, with faust's persisted changelog offsets; ``processors/tables.py``
writes the changelog itself) and ``check_versions`` (the processor refuses to start on other faust, aiokafka
or mode versions).

Why this is safe: ``perform_seek()`` runs only at the end of recovery after a rebalance and when a batch was
thrown away during one; fix 1 rewinds a partition with no committed offset where faust rewinds a committed one
to its commit, so at worst it re-reads, at least once, records no one ever committed, as a fresh assignment
does. Fix 2 keeps, rather than drops, events of the current generation, which are processed as usual. Fix 3
only adds metadata requests, and only while an assigned-to topic is missing; the rebalance it leads to is the
one aiokafka would have started itself at the next refresh.
We first moved faust's seek before the streams resume instead (the other obvious fix); that opens a window in
which faust's fetcher drops records of the still-paused partitions after they were sought: lost records in
1 of 14 runs. Check both fixes against the sources on any faust, aiokafka or mode upgrade (``TESTED_WITH``;
a warning is logged when the versions differ).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import OffsetResetStrategy
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition
from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP
from faust.utils.functional import consecutive_numbers
from mode.utils.queues import FlowControlEvent
from rocksdict import WriteBatch

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.errors import LoyaltyError

log = logging.getLogger(__name__)

TESTED_WITH = {"faust-streaming": "0.15.3", "aiokafka": "0.14.0", "mode-streaming": "0.7.1"}
_ORIGINALS: dict[tuple[type, str], Callable[..., Any]] = {
    (AIOKafkaConsumerThread, "seek_to_committed"): AIOKafkaConsumerThread.seek_to_committed,
    (FlowControlEvent, "resume"): FlowControlEvent.resume,
    (GroupCoordinator, "_perform_assignment"): GroupCoordinator._perform_assignment,
    (Consumer, "_drain_messages"): Consumer._drain_messages,
    (AIOKafkaConsumerThread, "_create_worker_consumer"): AIOKafkaConsumerThread._create_worker_consumer,
    (Consumer, "_new_offset"): Consumer._new_offset,
}


class UnsupportedVersions(LoyaltyError, RuntimeError):
    """faust-streaming, aiokafka or mode-streaming at other versions than the patches were checked against."""


def check_versions() -> None:
    """Refuse to run on versions the patches were not checked against (one line, for the start-up error)."""
    installed = {name: version(name) for name in TESTED_WITH}
    if installed != TESTED_WITH:
        wrong = ", ".join(f"{n} {installed[n]} (needs {v})" for n, v in TESTED_WITH.items() if installed[n] != v)
        raise UnsupportedVersions(f"processors/faust_compat.py was checked with other versions: {wrong}")


# -- fix 1 ----------------------------------------------------------------------------------------------------
async def _seek_to_committed_or_reset(
    consumer: AIOKafkaConsumer, is_stream: Callable[[Any], bool]
) -> Mapping[TopicPartition, int | None]:
    """Runs on the consumer thread: aiokafka's seek, then rewind what it leaves alone."""
    committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
    streams = {tp: offset for tp, offset in committed.items() if is_stream(tp)}
    for tp, offset in streams.items():
        if offset == 0:
            consumer.seek(tp, 0)
    fetcher = consumer._fetcher
    strategy = fetcher._default_reset_strategy
    uncommitted = sorted(tp for tp, offset in streams.items() if offset is None)
    if uncommitted and strategy != OffsetResetStrategy.NONE:  # NONE: aiokafka raises instead
        log.info("faust_compat: no committed offset, resetting by auto_offset_reset: %s", uncommitted)
        reset = fetcher.request_offset_reset(uncommitted, strategy)
        assignment = consumer._subscription.subscription.assignment
        # Like AIOKafkaConsumer.seek_to_beginning: wait for the new position, unless the assignment goes away.
        await asyncio.wait(
            [reset, assignment.unassign_future],
            timeout=consumer._request_timeout_ms / 1000,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if not reset.done():
            reset.cancel()
    return committed


async def seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[TopicPartition, int | None]:
    """Seek partitions to the last committed offset; with none, to where auto_offset_reset says."""
    app = self.app
    changelog_topics = app.tables.changelog_topics
    acking_topics = app.topics.acking_topics

    def is_stream(tp: Any) -> bool:
        return tp.topic in acking_topics and tp.topic not in changelog_topics

    return await self.call_thread(_seek_to_committed_or_reset, self._ensure_consumer(), is_stream)


# -- fix 2 ----------------------------------------------------------------------------------------------------
def resume(self: FlowControlEvent) -> None:
    """Resume production into the queues; clear them only if the flow was actually suspended."""
    was_suspended = self._suspend.is_set()
    self._suspend.clear()
    self._resume.set()
    if was_suspended:  # faust_compat: mode clears on every call, dropping events of a flow that never stopped
        self.clear()


# -- fix 3 ----------------------------------------------------------------------------------------------------
_MISSING_TOPICS_WATCH = "_faust_compat_missing_topics_watch"


async def _refresh_until_topics_appear(coordinator: GroupCoordinator, missing: frozenset[str]) -> None:
    """Refresh metadata until ``missing`` have partitions; aiokafka's metadata listener then requests a rejoin."""
    delay = 0.5
    while not coordinator._closing.done() and coordinator._group_subscription is not None:
        if all(coordinator._cluster.partitions_for_topic(topic) for topic in missing):
            return
        await asyncio.wait([coordinator._closing], timeout=delay)  # a sleep that ends when the consumer closes
        delay = min(delay * 2, 5.0)
        try:
            await coordinator._client.force_metadata_update()
        except KafkaError as exc:  # broker still away: try again later
            log.info("faust_compat: metadata refresh failed, retrying: %r", exc)


async def perform_assignment(self: GroupCoordinator, response: Any) -> Any:
    """The leader's assignment; if a subscribed topic had no partitions, watch for it to appear."""
    assignments = await _ORIGINALS[(GroupCoordinator, "_perform_assignment")](self, response)
    missing = frozenset(topic for topic, partitions in self._metadata_snapshot.items() if not partitions)
    previous = getattr(self, _MISSING_TOPICS_WATCH, None)
    if previous is not None:
        previous.cancel()
    if missing:
        log.warning("faust_compat: assigned without metadata for %s; refreshing until they appear", sorted(missing))
        setattr(self, _MISSING_TOPICS_WATCH, asyncio.ensure_future(_refresh_until_topics_appear(self, missing)))
    return assignments


# -- check 4 --------------------------------------------------------------------------------------------------
Head = tuple[int | None, int | None, bool]
"""A partition as the watchdog sees it: (committed offset, oldest acknowledged offset not yet committed, whether
nothing of it is acknowledged or in flight while the broker holds records past the commit)."""


@dataclass
class CommitWatchdog:
    """Partitions whose commit has not moved for ``patience`` seconds although it should have: acknowledged
    records are waiting above it (faust commits every 2.8 s; a head gap, faust's own test in
    ``Consumer._new_offset``, or a commit that never completes keep it where it is), or the worker holds the
    partition but reads nothing of it although the broker has records past the broker's commit ("idle
    behind"). The crash campaign's seed 2 of its eighth run saw a worker commit nothing for its whole life
    after a broker restart, and seed 3 of its seventh a repartition partition 17 records behind for minutes,
    both with this check's earlier, narrower rule silent."""

    patience: float = 30.0
    _since: dict[Any, tuple[int, float]] = field(default_factory=dict)

    _told: set[Any] = field(default_factory=set)

    def building(self, now: float) -> list[Any]:
        """Partitions whose clock has run half its patience, each once: the log shows a stall as it builds."""
        found = sorted(tp for tp, (_at, first) in self._since.items() if now - first >= self.patience / 2)
        new = [tp for tp in found if tp not in self._told]
        self._told.update(new)
        return new

    def stuck(self, heads: Mapping[Any, Head], now: float) -> list[Any]:
        since: dict[Any, tuple[int, float]] = {}
        for tp, (committed, oldest, idle_behind) in heads.items():
            if oldest is None and not idle_behind:
                continue
            at = -1 if committed is None else committed
            seen = self._since.get(tp)
            since[tp] = (at, seen[1] if seen is not None and seen[0] == at else now)
        self._since = since
        return sorted(tp for tp, (_at, first) in since.items() if now - first >= self.patience)


@dataclass
class GiveUp:
    """When a worker stops trying to repair its commits and exits for a restart (processors/app.py): no commit
    check answered for ``unanswered_limit`` seconds outside rebalances (the group coordinator wedged: aiokafka
    retries its OffsetFetch forever), or a partition stuck again less than ``stuck_again_limit`` seconds after
    the rebalance the last stall asked for (a rebalance did not move it)."""

    unanswered_limit: float = 90.0
    stuck_again_limit: float = 120.0
    _unanswered_since: float | None = None
    _rejoined_at: float | None = None

    def answered(self) -> None:
        self._unanswered_since = None

    def unanswered(self, now: float) -> float:
        """A check went unanswered: for how long none has been answered."""
        self._unanswered_since = self._unanswered_since if self._unanswered_since is not None else now
        return now - self._unanswered_since

    def after_unanswered(self, now: float) -> bool:
        return self.unanswered(now) >= self.unanswered_limit

    def after_stall(self, now: float) -> bool:
        """A stall: True to exit (one came this soon after the last rebalance asked for), else a rebalance."""
        again = self._rejoined_at is not None and now - self._rejoined_at < self.stuck_again_limit
        self._rejoined_at = now
        return again


Positions = Callable[[Any, list[Any]], Awaitable[tuple[Mapping[Any, int | None], Mapping[Any, int]]]]


async def broker_positions(consumer: Any, tps: list[Any]) -> tuple[dict[Any, int | None], Mapping[Any, int]]:
    """The group's committed offsets and the end offsets of ``tps``, as the broker has them now (faust's own
    ``_committed_offset`` can be ahead of the broker's: the fifth and seventh campaign runs' seed 3 showed
    commits that stayed behind after a broker restart while faust raised no stall of its own)."""

    async def committed(aio: AIOKafkaConsumer) -> dict[Any, int | None]:
        # One OffsetFetch for all of them (aiokafka's public ``committed`` asks once per partition); -1: none.
        asked = [TopicPartition(tp.topic, tp.partition) for tp in tps]
        found = await aio._coordinator.fetch_committed_offsets(asked)
        offsets = {(t.topic, t.partition): meta.offset for t, meta in found.items()}
        at = [offsets.get((tp.topic, tp.partition), -1) for tp in tps]
        return {tp: None if offset == -1 else offset for tp, offset in zip(tps, at, strict=True)}

    found = await consumer._thread.call_thread(committed, consumer._thread._ensure_consumer())
    return found, await consumer.highwaters(*tps)


async def commit_heads(consumer: Any, positions: Positions = broker_positions) -> dict[Any, Head]:
    """Each assigned partition faust commits offsets for, **as the broker has it**: (the broker's committed
    offset, the oldest record faust has acknowledged and not committed, whether the broker's end lies past the
    broker's commit). One round of questions for all of them every check. faust's own view is not enough: in the
    campaign of 2026-12-03 (transactions in the workload) three seeds ended with two input partitions committed
    at about half their length for minutes, everything processed, faust's commits apparently moving in its own
    books and the watchdog silent; the broker's commit is what a restart would read from."""
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    tps = [tp for tp in consumer.assignment() if acks_enabled_for(tp.topic)]
    if not tps:
        return {}
    committed, ends = await positions(consumer, tps)
    heads: dict[Any, Head] = {}
    for tp in tps:
        acked = consumer._acked.get(tp)
        at, end = committed.get(tp), ends.get(tp)
        behind = at is not None and end is not None and end > at
        heads[tp] = (at, min(acked) if acked else None, behind)
    return heads


def read_state(consumer: Any, tp: Any) -> str:
    """What faust holds about a partition, for the log line of a stall (to find where the records went)."""
    return (
        f"read offset {consumer._read_offset.get(tp)}, active {tp in (consumer._active_partitions or ())}, "
        f"paused {tp in consumer._paused_partitions}, "
        f"a commit pending {consumer._commit_fut is not None and not consumer._commit_fut.done()}"
    )


async def request_rejoin(consumer: Any) -> None:
    """Ask the group for a rebalance (on the consumer's own thread, where aiokafka runs)."""

    async def rejoin(aio: AIOKafkaConsumer) -> None:
        aio._coordinator.request_rejoin()

    await consumer._thread.call_thread(rejoin, consumer._thread._ensure_consumer())


# -- fix 5 ----------------------------------------------------------------------------------------------------
async def drain_messages(self: Consumer, fetcher: Any) -> None:
    """faust's fetch loop, with one ``wait_first`` per fetched batch instead of one per record."""
    callback = self.callback
    consumer_should_stop = self._stopped.is_set
    fetcher_should_stop = fetcher._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    app = self.app

    async def deliver(batch: list[tuple[Any, Any]], generation: int) -> None:
        since_yield = 0
        for tp, message in batch:
            # What faust's getmany checks before yielding each record.
            if not self.flow_active or app.consumer_generation_id != generation:
                return
            since_yield += 1
            if since_yield > 100:  # as faust does: let other tasks run during a long batch
                await asyncio.sleep(0)
                since_yield = 0
            offset = message.offset
            r_offset = get_read_offset(tp)
            if r_offset is None or offset >= r_offset:
                gap = offset - (r_offset or 0)
                if gap > 1 and r_offset and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                await callback(message)
                set_read_offset(tp, offset)
            else:
                self.log.dev("DROPPED MESSAGE ROFF %r: k=%r v=%r", offset, message.key, message.value)

    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            records = self.getmany(timeout=1.0)
            await self.sleep(0)
            if not self.should_stop:
                # getmany yields a fetched batch without awaiting in between: collecting it is what faust's own
                # loop sees record by record, and the generation it started with is still the current one.
                batch = [item async for item in records]
                if batch:
                    await self.wait_first(deliver(batch, app.consumer_generation_id), self.suspend_flow.wait())
                unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)


# -- fix 8 ----------------------------------------------------------------------------------------------------
def new_offset(self: Consumer, tp: TP) -> int | None:
    """faust's ``_new_offset`` (the offset to commit for ``tp``), with every offset counted once (fix 8)."""
    acked = self._acked[tp]
    if not acked:
        return None
    gap = self._gap[tp]
    if gap:
        highest = max(acked)
        merged = gap.overlap(0, highest)
        if merged:
            acked.extend(offset for interval in merged for offset in range(interval.begin, interval.end))
            gap.chop(0, max(max(interval.end for interval in merged), highest + 1))
    acked[:] = sorted(set(acked))
    committed = self._committed_offset[tp]
    if committed and acked[0] - committed > 1:
        return None  # faust's head-gap rule: nothing right above the commit is acknowledged yet
    run = next(consecutive_numbers(acked))
    del acked[: len(run)]
    self._acked_index[tp].difference_update(run)
    return int(run[-1]) + 1


# -- fix 6 ----------------------------------------------------------------------------------------------------
# When the app sets none (set_fetch_max_wait): the setting's default, the one place its value is written.
FETCH_MAX_WAIT_MS: int = Settings.model_fields["processor_fetch_max_wait_ms"].default


def set_fetch_max_wait(app: Any, milliseconds: int) -> None:
    """How long the broker may hold a fetch of ``app``'s worker consumer that finds no records (fix 6)."""
    app.loyalty_fetch_max_wait_ms = milliseconds


# -- fix 7 ----------------------------------------------------------------------------------------------------
PREFETCH_BACKOFF_SECONDS = 0.0  # aiokafka's is 0.1, not a consumer argument


def create_worker_consumer(self: AIOKafkaConsumerThread, transport: Any) -> AIOKafkaConsumer:
    """faust's worker consumer with the app's fetch wait instead of faust's fixed 1,500 ms (fix 6) and no
    prefetch backoff (fix 7). aiokafka builds its fetcher when the consumer starts, which is after this: the
    wait is read from ``_fetch_max_wait_ms`` then, the backoff is set on the fetcher once it exists."""
    consumer = _ORIGINALS[(AIOKafkaConsumerThread, "_create_worker_consumer")](self, transport)
    consumer._fetch_max_wait_ms = getattr(self.app, "loyalty_fetch_max_wait_ms", FETCH_MAX_WAIT_MS)
    start = consumer.start

    async def start_without_prefetch_backoff() -> None:
        await start()
        consumer._fetcher._prefetch_backoff = PREFETCH_BACKOFF_SECONDS

    consumer.start = start_without_prefetch_backoff  # type: ignore[method-assign]
    return consumer


# -- helpers: a table's local store -----------------------------------------------
class LocalStore:
    """A faust table's local store, per partition, without faust's changelog writes (the caller produces the
    changelog records itself and writes here only once the broker has them: processors/tables.py)."""

    _OFFSET_KEY = b"__faust\0offset__"  # faust's rocksdb store keeps its persisted changelog offset under it

    def __init__(self, table: Any) -> None:
        self._table = table
        self.changelog_topic: str = table.changelog_topic.get_topic_name()

    def _db(self, partition: int) -> Any:
        store = self._table.data
        dbs = getattr(store, "_dbs", None)
        if dbs is None:  # memory:// store: one dict for every partition
            return store.data
        db = dbs.get(partition)  # faust opens a partition's database when it is assigned, closes it when revoked
        return db if db is not None else store._db_for_partition(partition)

    def get(self, partition: int, key: bytes) -> bytes | None:
        value: bytes | None = self._db(partition).get(key)
        return value

    def write(
        self, partition: int, writes: Iterable[tuple[bytes, bytes | None]], *, persisted_offset: int | None = None
    ) -> None:
        """Puts (value None: deletes) and the changelog offset they were read back from, in one RocksDB write."""
        db = self._db(partition)
        if isinstance(db, dict):  # memory:// store
            for key, value in writes:
                if value is None:
                    db.pop(key, None)
                else:
                    db[key] = value
            return
        batch = WriteBatch(raw_mode=True)
        for key, value in writes:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
        if persisted_offset is not None:
            batch.put(self._OFFSET_KEY, str(persisted_offset).encode())  # as faust's set_persisted_offset does
        db.write(batch)

    def items_with_prefix(self, partition: int, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        db = self._db(partition)
        if isinstance(db, dict):
            items: Iterable[tuple[bytes, bytes]] = [(k, v) for k, v in db.items() if k.startswith(prefix)]
        else:
            items = db.items(from_key=prefix)
        for key, value in items:
            if not key.startswith(prefix):
                return  # rocksdb iterates in key order: past the prefix, nothing more matches
            if key != self._OFFSET_KEY:
                yield key, value

    def persisted_offset(self, partition: int) -> int | None:
        """Where faust's recovery resumes reading this partition's changelog after a restart."""
        try:
            offset: int | None = self._table.data.persisted_offset(TP(self.changelog_topic, partition))
        except NotImplementedError:
            return None
        return offset


_PATCHES: dict[tuple[type, str], Callable[..., Any]] = {
    (AIOKafkaConsumerThread, "seek_to_committed"): seek_to_committed,
    (FlowControlEvent, "resume"): resume,
    (GroupCoordinator, "_perform_assignment"): perform_assignment,
    (Consumer, "_drain_messages"): drain_messages,
    (AIOKafkaConsumerThread, "_create_worker_consumer"): create_worker_consumer,
    (Consumer, "_new_offset"): new_offset,
}


def install() -> None:
    """Patch faust (idempotent)."""
    todo = {key: patch for key, patch in _PATCHES.items() if getattr(*key) is not patch}
    for cls, name in todo:
        if getattr(cls, name) is not _ORIGINALS[(cls, name)]:
            raise RuntimeError(f"faust_compat: {cls.__name__}.{name} was already replaced by someone else")
    installed = {name: version(name) for name in TESTED_WITH}
    if todo and installed != TESTED_WITH:
        log.warning("faust_compat: written for %s, running %s; check the patches still apply", TESTED_WITH, installed)
    for (cls, name), patch in todo.items():
        setattr(cls, name, patch)


install()
