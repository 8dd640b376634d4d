"""The faust-streaming app: the wiring of the agents (processors/agents/), their tables and timers.

    loyalty.custom-events ──intake──▶ {app}-member-events (MemberEventBatch per member partition) ──evaluate──▶
        progress + applied tables, loyalty.achievement-progress, loyalty.webhooks, loyalty.custom-event-outcomes
    undecodable/invalid ──▶ loyalty.custom-events.dlq     unknown members ──▶ parked ──(expiry)──▶ .unmatched
    loyalty.member-commands ──claims──▶ loyalty.members + signals to every input partition + loyalty.member-replies

Agents run with concurrency 1 (faust commits past in-flight events otherwise) and take their input in batches;
parallelism comes from partitions and workers. Their records and table writes go through one librdkafka
producer, in the order processors/batch.py explains. Signals (ProcessorSignal records) travel on the same
partitions as events, so a registration and an event milliseconds apart are ordered on every partition.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from types import SimpleNamespace
from typing import Any

import faust

from loyalty_stream.config.collector import tune_collector
from loyalty_stream.config.loop import use_event_loop
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.replicas.catalog import AchievementCatalog
from loyalty_stream.replicas.controlplane import ControlPlane
from loyalty_stream.replicas.members import MemberDirectory
from processors import (
    faust_compat,  # patches faust before the app exists; see the module
    metrics,
)
from processors.agents.claims import Claims
from processors.agents.evaluate import Evaluate
from processors.agents.intake import Intake
from processors.batch import OutputProducer
from processors.context import Context
from processors.faust_compat import CommitWatchdog, GiveUp, commit_heads, read_state, request_rejoin
from processors.parking import ParkingLot
from processors.tables import ChangelogTable, ParkingKeyValue
from schemas.serde import Serde

log = logging.getLogger(__name__)

COMMIT_CHECK_SECONDS = 5.0  # how often faust's commit positions are checked (faust_compat, check 4)
COMMIT_CHECK_TIMEOUT = 10.0  # a check the broker has not answered by then is a missed check
COMMIT_SUMMARY_EVERY = 12  # every minute, one line of what the commit checks see
EXIT_STALLED = 75  # EX_TEMPFAIL: the worker gave up on its commits (faust_compat.GiveUp); a restart repairs them
# faust's stream buffer per agent. Its default (4,096) pauses a partition's fetching when the buffer is 80 %
# full, and aiokafka sends no fetch to a broker while any of its partitions holds unread records: a batch of
# 2,000 then idled the worker between fetches (docs/benchmarks.md, "faust's own cost").
STREAM_BUFFER = 65_536
MAX_POLL_RECORDS = 2_000


class Processor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        serde = Serde(settings.schema_registry_url)
        topics = build_topics(settings)
        control = ControlPlane(settings, serde)
        members = MemberDirectory(settings, serde, name="processor-members")
        self.producer = OutputProducer(settings)
        self.ctx = Context(settings, serde, topics, control, members, AchievementCatalog(control), self.producer)
        self.commit_watchdog = CommitWatchdog()
        self.give_up = GiveUp()
        self._checks = 0
        self.app = self._build_app()

    def _build_app(self) -> faust.App:
        s, t = self.settings, self.ctx.topics
        # One RocksDB directory per worker: app id (a replay is another app) and web port (two workers of
        # one app on one machine); a restarted worker finds its warm store again.
        datadir = (s.data_dir / "processor" / f"{s.processor_app_id}-{s.processor_web_port}").resolve()
        datadir.mkdir(parents=True, exist_ok=True)
        app = faust.App(
            s.processor_app_id,
            **s.faust_broker_kwargs(),
            store=s.processor_store,
            table_standby_replicas=s.processor_standby_replicas,
            datadir=str(datadir),
            topic_partitions=s.topic_partitions,
            topic_replication_factor=s.topic_replication_factor,
            topic_allow_declare=False,  # every topic comes from loyalty_stream.kafka.topics
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            broker_max_poll_records=MAX_POLL_RECORDS,
            stream_buffer_maxsize=STREAM_BUFFER,
            consumer_auto_offset_reset="earliest",
            # Backstop for faust_compat fix 3: how long a leader's stale view of the topics can idle the group.
            consumer_metadata_max_age_ms=60_000,
            web_host=s.api_host,
            web_port=s.processor_web_port,
            web_in_thread=False,
            autodiscover=False,
            stream_wait_empty=True,  # finish in-flight batches before a rebalance hands their partition over
            producer_linger_ms=5,  # faust's own producer now only carries the claims agent's records and ticks
            key_serializer="raw",  # we decode ourselves: a bad record is dead-lettered, never crashes an agent
            value_serializer="raw",
        )

        faust_compat.set_fetch_max_wait(app, s.processor_fetch_max_wait_ms)

        def raw(topic: Any) -> Any:
            return app.topic(topic.name, key_serializer="raw", value_serializer="raw", partitions=topic.partitions)

        self.channels = SimpleNamespace(
            input=raw(t.custom_events),
            member_events=raw(t.member_events),
            member_commands=raw(t.member_commands),
        )

        def table(name: str, **options: Any) -> ChangelogTable:
            rocksdb = s.processor_store.startswith("rocksdb")
            faust_table = app.Table(
                name,
                default=None,
                partitions=s.topic_partitions,
                key_type=bytes,
                value_type=bytes,
                options=options if rocksdb and options else None,
            )
            return ChangelogTable(faust_table)

        progress = table("progress")
        # RocksDB drops markers older than the dedup window at compaction; the changelog forgets them by retention.
        applied = table("applied", ttl=s.dedup_window_days * 86_400)
        parked = table("parked")
        parking = ParkingLot(
            ParkingKeyValue(parked),
            max_per_store=max(1, -(-s.parking_max_per_store // s.topic_partitions)),  # the bound is per partition
            max_age_seconds=s.parking_max_age_hours * 3600,
        )
        ch = self.channels
        app.agent(ch.input, name="intake", concurrency=1)(Intake(self.ctx, parked, parking, app))
        app.agent(ch.member_events, name="evaluate", concurrency=1)(Evaluate(self.ctx, progress, applied))
        if s.processor_claims:  # a replay (loyalty-stream replay) leaves members to the live processor
            app.agent(ch.member_commands, name="claims", concurrency=1)(Claims(self.ctx))
            app.timer(interval=s.parking_sweep_seconds, on_leader=True)(self._tick)
        app.task(self._start)
        app.timer(interval=COMMIT_CHECK_SECONDS)(self._watch_commits)
        control, members = self.ctx.control, self.ctx.members
        metrics.install_pages(app, ready=lambda: control.mirror.caught_up and members.mirror.caught_up)
        return app

    async def _start(self) -> None:
        # faust's start-up spinner leaves the root logger at DEBUG with a DEBUG handler attached: every
        # debug record of faust and aiokafka (with reprs of message values) would be built forever.
        logging.root.handlers[:] = [h for h in logging.root.handlers if type(h).__name__ != "SpinnerHandler"]
        logging.root.setLevel(self.settings.log_level.upper())
        self.producer.start()
        self.ctx.control.start()
        self.ctx.members.start()
        tune_collector()

    async def _watch_commits(self) -> None:
        """A partition whose commit faust can no longer move gets re-read after a rebalance (faust_compat 4); a
        worker that cannot check, or whose rebalance did not help, exits for a restart. Nothing but the worker's
        own stop ends this timer: an exception or a cancellation from under a check (the consumer's thread
        restarted) would end faust's timer loop for good, silently (the campaign's seed 9 of 2026-12-03: a stall
        of four minutes with not one line from the watchdog)."""
        self._checks += 1
        try:
            await self._check_commits()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the worker stops
            log.info("commit check cancelled from under it; looking again at the next one")
        except Exception:
            log.exception("commit check failed; looking again at the next one")

    async def _check_commits(self) -> None:
        summary = self._checks % COMMIT_SUMMARY_EVERY == 0
        if self.app.rebalancing or self.app.in_recovery:  # partitions are paused then: not a stall
            if summary:
                log.info("commit check %d: rebalancing %s, recovering %s", self._checks, self.app.rebalancing,
                         self.app.in_recovery)  # fmt: skip
            self.commit_watchdog = CommitWatchdog()
            self.give_up.answered()
            return
        consumer = self.app.consumer
        now = time.monotonic()
        try:
            heads = await asyncio.wait_for(commit_heads(consumer), COMMIT_CHECK_TIMEOUT)
        except TimeoutError:
            give_up = self.give_up.after_unanswered(now)
            log.warning("commit check: no answer from the broker within %.0f s (none for %.0f s)",
                        COMMIT_CHECK_TIMEOUT, self.give_up.unanswered(now))  # fmt: skip
            if give_up:
                self._exit("no commit check answered")
            return
        except Exception as exc:  # the broker away or the group rebalancing: look again at the next check
            log.info("commit check skipped: %r", exc)
            return
        self.give_up.answered()
        if summary:  # that the watchdog is alive, and what it sees (a minute's evidence for an operator)
            # with the broker's commit: whether a partition that stays behind is stuck or trails its end
            # and what faust holds of each (the 17th/18th campaign runs' seed 9: a commit moving one record per
            # commit interval, far behind its end, that no rule saw)
            behind = [
                f"{tp.topic}/{tp.partition} at {at} (oldest acknowledged {oldest}, {read_state(consumer, tp)})"
                for tp, (at, oldest, late) in sorted(heads.items())
                if late
            ]
            log.info("commit check %d: %d partitions, behind their end: %s", self._checks, len(heads),
                     ", ".join(behind) or "none")  # fmt: skip
        stuck = self.commit_watchdog.stuck(heads, now)
        for tp in self.commit_watchdog.building(now):  # the evidence, should it turn into a stall
            committed, oldest, behind = heads[tp]
            log.info("commit check: %s/%s committed at %s for %.0f s (oldest acknowledged %s, behind its end: %s)",
                     tp.topic, tp.partition, committed, self.commit_watchdog.patience / 2, oldest, behind)  # fmt: skip
        if stuck:
            log.warning(
                "commit stuck for %.0f s on %s: asking for a rebalance to re-read from the committed offsets",
                self.commit_watchdog.patience,
                "; ".join(
                    f"{tp.topic}/{tp.partition} (committed {heads[tp][0]}, oldest acknowledged {heads[tp][1]}, "
                    f"{'idle behind, ' if heads[tp][2] else ''}{read_state(consumer, tp)})"
                    for tp in stuck
                ),
            )
            for tp in stuck:
                metrics.COMMIT_STALLS.labels(tp.topic).inc()
            if self.give_up.after_stall(now):
                self._exit("a commit stuck again soon after the rebalance asked for it")
            self.commit_watchdog = CommitWatchdog()
            await request_rejoin(consumer)

    @staticmethod
    def _exit(why: str) -> None:
        """Exit at once, as a kill -9 would (docs/reliability.md: nothing acknowledged is lost, nothing doubled);
        the supervisor (``loyalty-stream run``, compose's restart policy) starts the worker again."""
        log.error("%s: exiting so that a restart re-reads from the committed offsets", why)
        logging.shutdown()
        os._exit(EXIT_STALLED)

    async def _tick(self) -> None:
        """A tick on every input partition drives the parked-event expiry sweep, in order with events."""
        signal = self.ctx.serde.encode_for(
            self.ctx.topics.custom_events, {"kind": "tick", "storeCode": "", "sentAt": iso_utc()}, "ProcessorSignal"
        )
        for partition in range(self.ctx.topics.custom_events.partitions):
            await self.channels.input.send(value=signal, partition=partition)


def main(settings: Settings | None = None, argv: list[str] | None = None) -> None:
    import sys

    from loyalty_stream.config.logs import configure_logging

    settings = settings or Settings()
    configure_logging(settings, service="processor")
    try:
        faust_compat.check_versions()
    except faust_compat.UnsupportedVersions as exc:
        sys.exit(f"processor: {exc}")
    use_event_loop(settings)  # before the app: faust's services take their loop when built
    processor = Processor(settings)
    level = {"warning": "warn", "critical": "crit"}.get(settings.log_level.lower(), settings.log_level.lower())
    sys.argv = ["processor", "worker", "--loglevel", level, *(argv or [])]
    try:
        processor.app.main()
    finally:
        processor.producer.close()
