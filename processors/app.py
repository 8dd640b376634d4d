"""The faust-streaming app. Agents only decode → call the pure code → write → send.

    loyalty.custom-events ──intake──▶ loyalty.member-events (key storeCode:customerId) ──evaluate──▶
        progress + applied tables, loyalty.achievement-progress, loyalty.webhooks, loyalty.custom-event-outcomes
    undecodable/invalid ──▶ loyalty.custom-events.dlq     unknown members ──▶ parked ──(expiry)──▶ .unmatched
    loyalty.member-commands ──claims──▶ loyalty.members + signals to every input partition + loyalty.member-replies

Agents run with concurrency 1 (faust commits past in-flight events otherwise); parallelism comes from
partitions and workers. Signals (ProcessorSignal records) travel on the same partitions as events, so a
registration and an event milliseconds apart are ordered on every partition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson

from loyalty_stream.clock import iso_utc
from loyalty_stream.controlplane import ControlPlane
from loyalty_stream.domain import Event, MemberRef, WebhookOutput, process_event, prune
from loyalty_stream.domain.events import parse_event_date
from loyalty_stream.domain.ids import source_event_id
from loyalty_stream.identity import identifiers_of
from loyalty_stream.kafka import consumer, end_offsets
from loyalty_stream.keys import join_key, split_key
from loyalty_stream.members import MEMBER_IDENTIFIERS, MemberDirectory
from loyalty_stream.settings import Settings, Store
from loyalty_stream.topics import build_topics
from processors import (
    faust_compat,  # noqa: F401  (patches faust before the app exists; see the module)
    metrics,
)
from processors.catalog import AchievementCatalog
from processors.claims import decide
from processors.faust_compat import CommitWatchdog, commit_heads, request_rejoin
from processors.intake import Admitted, Rejected, admit, decode
from processors.outputs import customer_registered, outcome_record, progress_record, webhook_record
from processors.parking import Parked, ParkingLot, split_known
from processors.tables import MemberStates, TableKeyValue
from schemas.serde import DecodeError, Serde

log = logging.getLogger(__name__)

COMMIT_CHECK_SECONDS = 5.0  # how often faust's commit positions are checked (faust_compat, check 4)
HOLD_TIMEOUT = 10.0  # how long an event waits for the control plane it was stamped with
OUTPUTS_MARGIN = timedelta(seconds=15)  # > faust commit interval (2.8 s) and a commit round trip


class CommitWatch(faust.Sensor):  # type: ignore[misc]
    """When offsets were last committed: events processed before that will not be re-delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.last = time.time()

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        self.last = time.time()

    def outputs_retention(self) -> timedelta:
        # Outputs are what make the applied log big. They are kept only while their event may still be
        # re-delivered: since the last commit (which grows while commits fail, e.g. the broker is down)
        # plus a margin for the commit interval.
        return OUTPUTS_MARGIN + timedelta(seconds=max(0.0, time.time() - self.last))


class Processor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.serde = Serde(settings.schema_registry_url)
        self.topics = build_topics(settings)
        self.control = ControlPlane(settings, self.serde)
        self.members = MemberDirectory(settings, self.serde, name="processor-members")
        self.catalog = AchievementCatalog(self.control)
        self.retention = timedelta(hours=settings.custom_events_retention_hours)
        self.commits = CommitWatch()
        self._takeover_ends: dict[Any, tuple[int, int]] = {}  # see _maybe_redelivered
        self.commit_watchdog = CommitWatchdog()
        self.app = self._build_app()
        self.app.sensors.add(self.commits)

    # -- wiring ---------------------------------------------------------------------------------
    def _build_app(self) -> faust.App:
        s, t = self.settings, self.topics
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
            topic_allow_declare=False,  # every topic comes from loyalty_stream.topics
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            consumer_auto_offset_reset="earliest",
            # Backstop for faust_compat fix 3: how long a leader's stale view of the topics can idle the group.
            consumer_metadata_max_age_ms=60_000,
            web_host=s.api_host,
            web_port=s.processor_web_port,
            web_in_thread=False,
            autodiscover=False,
            stream_wait_empty=True,  # finish in-flight events before a rebalance hands their partition over
            producer_linger_ms=5,  # batch produce requests: one per event per topic is what capped throughput
            key_serializer="raw",  # we decode ourselves: a bad record is dead-lettered, never crashes an agent
            value_serializer="raw",
        )

        def raw(topic: Any) -> Any:
            return app.topic(topic.name, key_serializer="raw", value_serializer="raw", partitions=topic.partitions)

        self.input = raw(t.custom_events)
        self.member_events = raw(t.member_events)
        self.member_commands = raw(t.member_commands)
        self.member_replies = raw(t.member_replies)
        self.members_out = raw(t.members)
        self.dlq = raw(t.custom_events_dlq)
        self.unmatched = raw(t.custom_events_unmatched)
        self.outcomes = raw(t.custom_event_outcomes)
        self.progress_out = raw(t.progress)
        self.webhooks_out = raw(t.webhooks)

        def table(name: str) -> Any:
            return app.Table(name, default=None, partitions=s.topic_partitions, key_type=bytes, value_type=bytes)

        self.states = MemberStates(table("progress"))
        self.parking = ParkingLot(
            TableKeyValue(table("parked")),
            max_per_store=max(1, -(-s.parking_max_per_store // s.topic_partitions)),  # the bound is per partition
            max_age_seconds=s.parking_max_age_hours * 3600,
        )
        app.agent(self.input, name="intake", concurrency=1)(self._intake)
        app.agent(self.member_events, name="evaluate", concurrency=1)(self._evaluate)
        if s.processor_claims:  # a replay (loyalty-stream replay) leaves members to the live processor
            app.agent(self.member_commands, name="claims", concurrency=1)(self._claims)
            app.timer(interval=s.parking_sweep_seconds, on_leader=True)(self._tick)
        app.task(self._start_mirrors)
        app.timer(interval=COMMIT_CHECK_SECONDS)(self._watch_commits)
        metrics.install_pages(app, ready=lambda: self.control.mirror.caught_up and self.members.mirror.caught_up)
        return app

    async def _watch_commits(self) -> None:
        """A partition whose commit faust can no longer move gets re-read after a rebalance (faust_compat 4)."""
        stuck = self.commit_watchdog.stuck(commit_heads(self.app.consumer), time.monotonic())
        if stuck:
            log.warning(
                "commit stuck for %.0f s on %s: asking for a rebalance to re-read from the committed offsets",
                self.commit_watchdog.patience,
                ", ".join(f"{tp.topic}/{tp.partition}" for tp in stuck),
            )
            for tp in stuck:
                metrics.COMMIT_STALLS.labels(tp.topic).inc()
            self.commit_watchdog = CommitWatchdog()
            await request_rejoin(self.app.consumer)

    async def _start_mirrors(self) -> None:
        # faust's start-up spinner leaves the root logger at DEBUG with a DEBUG handler attached: every
        # debug record of faust and aiokafka (with reprs of message values) would be built forever.
        logging.root.handlers[:] = [h for h in logging.root.handlers if type(h).__name__ != "SpinnerHandler"]
        logging.root.setLevel(self.settings.log_level.upper())
        self.control.start()
        self.members.start()

    async def _ready(self) -> None:
        """Agents start processing only once the control plane and members are loaded."""
        while not (self.control.mirror.caught_up and self.members.mirror.caught_up):
            await asyncio.sleep(0.05)

    async def _tick(self) -> None:
        """A tick on every input partition drives the parked-event expiry sweep, in order with events."""
        signal = self.serde.encode("ProcessorSignal", {"kind": "tick", "storeCode": "", "sentAt": iso_utc()})
        for partition in range(self.topics.custom_events.partitions):
            await self.input.send(value=signal, partition=partition)

    # -- shared sends ----------------------------------------------------------------------------
    async def _dead_letter(self, msg: Any, reason: str, message: str, *, unmatched: bool = False) -> None:
        headers = {
            "loyalty-reason": reason.encode(),
            "loyalty-error": message[:1000].encode(),
            "loyalty-source-topic": msg.topic.encode(),
            "loyalty-source-partition": str(msg.partition).encode(),
            "loyalty-source-offset": str(msg.offset).encode(),
        }
        if not unmatched:
            metrics.DEAD_LETTERS.labels(reason).inc()
        log.info(
            "%s %s/%s@%s: %s",
            "unmatched" if unmatched else "dead-lettered",
            msg.topic,
            msg.partition,
            msg.offset,
            reason,
            extra={"reason": reason, "error": message[:200]},
        )
        await (self.unmatched if unmatched else self.dlq).send(key=msg.key, value=msg.value, headers=headers)

    async def _outcome(self, record: dict[str, Any], status: str, **fields: Any) -> Any:
        metrics.OUTCOMES.labels(record["storeCode"], status, fields.get("reason") or "").inc()
        value = outcome_record(record, status, decided_at=iso_utc(), **fields)
        key = join_key(record["storeCode"], record["customEventId"])
        return await self.outcomes.send(key=key, value=self.serde.encode("CustomEventOutcome", value))

    async def _forward(self, store: str, customer_id: str, record: dict[str, Any]) -> Any:
        key = join_key(store, customer_id)
        return await self.member_events.send(key=key, value=self.serde.encode("CustomEvent", record))

    async def _forward_parked(self, known: list[tuple[Parked, str]]) -> None:
        """Parked events whose member is known (entry, customerId): forward each, then unpark them."""
        sent = [await self._forward(e.record["storeCode"], customer_id, e.record) for e, customer_id in known]
        await self._unpark([e for e, _ in known], sent)

    async def _unpark(self, entries: list[Parked], sent: list[Any]) -> None:
        """Parked entries leave the table only after what replaces them is on the broker: a kill -9 in
        between re-delivers the signal, which finds them still parked and sends them again (evaluate
        counts an event once, outcomes are keyed by event)."""
        if entries:
            await asyncio.gather(*sent)
            self.parking.remove(entries)

    # -- intake: decode, validate, resolve the member, repartition -------------------------------
    async def _intake(self, stream: Any) -> None:
        await self._ready()
        async for event in stream.events():
            msg = event.message
            with metrics.PROCESSING.labels("intake").time():
                decoded = decode(self.serde, msg.value)
                if isinstance(decoded, Rejected):
                    await self._dead_letter(msg, decoded.reason, decoded.message)
                elif decoded[0] == "ProcessorSignal":
                    await self._on_signal(msg, decoded[1])
                else:
                    metrics.EVENTS_IN.labels(msg.topic, str(decoded[1].get("storeCode"))).inc()
                    await self._on_event(msg, decoded[1])

    async def _hold_for_control_plane(self, offsets: dict[str, int]) -> None:
        names = {t.name for t in self.topics.control_plane}
        wanted = {(topic, 0): offset for topic, offset in offsets.items() if topic in names}
        if wanted and not self.control.mirror.reached(wanted):
            await self.control.mirror.wait_async(wanted, HOLD_TIMEOUT)

    async def _on_event(self, msg: Any, record: dict[str, Any]) -> None:
        await self._hold_for_control_plane(record.get("controlOffsets") or {})
        admitted = admit(
            record,
            stores=self.settings.store_map,
            schemas=self.control.schemas,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            now=datetime.now(UTC),
        )
        if isinstance(admitted, Rejected):
            await self._dead_letter(msg, admitted.reason, admitted.message)
            if isinstance(record.get("storeCode"), str) and record["storeCode"] in self.settings.store_map:
                known = {
                    **record,
                    "customEventId": record.get("customEventId")
                    or source_event_id(msg.topic, msg.partition, msg.offset),
                }
                if isinstance(known.get("type"), str) and isinstance(known.get("eventDate"), str):
                    await self._outcome(known, "dead_lettered", reason=admitted.reason)
            return
        await self._route(msg, admitted)

    async def _route(self, msg: Any, admitted: Admitted) -> None:
        store, record = admitted.store, admitted.record
        resolution = self.members.index.resolve(store.code, record["customerData"], store.identifier_order)
        if resolution.ambiguous:
            await self._dead_letter(msg, "ambiguous_member", "the identifiers resolve to different members")
            await self._outcome(record, "dead_lettered", reason="ambiguous_member")
        elif resolution.customer_id is not None:
            await self._forward(store.code, resolution.customer_id, record)
        else:
            identifiers = identifiers_of(record["customerData"], store.identifier_order)
            evicted = self.parking.park(
                msg.partition, store.code, identifiers, record, iso_utc(admitted.event_date), time.time()
            )
            await self._outcome(record, "parked", reason="member_not_registered")
            await self._release(evicted, "parking_full", msg)

    async def _release(self, entries: list[Parked], reason: str, msg: Any) -> None:
        """Parked events that will never be counted: to the unmatched topic, with their reason. Those of a
        deleted member leave without its personal data (identifiers and body)."""
        if reason != "member_deleted":
            entries = await self._forward_known(entries)
        sent = []
        for entry in entries:
            if reason == "member_deleted":
                entry = replace(entry, record={**entry.record, "body": "{}", "customerData": {}})
            value = self.serde.encode("CustomEvent", entry.record)
            key = f"{entry.record['storeCode']}:{entry.event_id}".encode()
            headers = {"loyalty-reason": reason.encode(), "loyalty-parked-at": str(entry.parked_at).encode()}
            sent.append(await self.unmatched.send(key=key, value=value, headers=headers))
            sent.append(await self._outcome(entry.record, "unmatched", reason=reason))
        await self._unpark(entries, sent)

    def _maybe_redelivered(self, msg: Any) -> bool:
        """Could a worker have processed this record before (and died before its changelog writes left)? Only
        if it lies below the partition's end offset as known when this worker processed its first record of
        the partition in this consumer generation: later records were written after the partition was handed
        to us. Conservative: the first batch after every rebalance (and whatever backlog it holds) counts."""
        generation, tp = self.app.consumer_generation_id, msg.tp
        seen = self._takeover_ends.get(tp)
        if seen is None or seen[0] != generation:
            end = self.app.consumer.highwater(tp)
            if end is None:
                return True  # no fetch answered yet: assume it could be
            seen = self._takeover_ends[tp] = (generation, end)
        return bool(msg.offset < seen[1])

    async def _forward_known(self, entries: list[Parked]) -> list[Parked]:
        """Forward the entries whose member is known by now; return the rest. A registration's claim takes
        its events at once, so a known member's event still parked here is one a cold restore brought back
        after it was forwarded (a kill -9 can leave the changelog without the removal; see
        docs/reliability.md): forwarding it again is a duplicate evaluate answers with the first outcome,
        where expiring it would overwrite that outcome with "unmatched"."""

        def member_of(record: dict[str, Any]) -> str | None:
            store = self.settings.store_map.get(record["storeCode"])
            if store is None:
                return None
            return self.members.index.resolve(store.code, record["customerData"], store.identifier_order).customer_id

        known, rest = split_known(entries, member_of)
        await self._forward_parked(known)
        return rest

    async def _on_signal(self, msg: Any, signal: dict[str, Any]) -> None:
        kind, store = signal["kind"], signal.get("storeCode", "")
        if kind == "tick":
            await self._release(self.parking.expire(msg.partition, time.time()), "parking_expired", msg)
            return
        member = signal.get("member")
        customer_id = signal.get("customerId") or ""
        if kind == "member_changed" and member:
            self.members.index.apply(store, customer_id, member)  # in order with this partition's events
            parked = self.parking.claim(
                msg.partition,
                store,
                identifiers_of(member, MEMBER_IDENTIFIERS),
                redelivered=self._maybe_redelivered(msg),
            )
            await self._forward_parked([(e, customer_id) for e in parked])
        elif kind == "member_deleted":
            gone = self.parking.claim(
                msg.partition,
                store,
                identifiers_of(member or {}, MEMBER_IDENTIFIERS),
                redelivered=self._maybe_redelivered(msg),
            )
            await self._release(gone, "member_deleted", msg)

    # -- evaluate: apply the event to the member's progress ----------------------------------------
    def _member_ref(self, store: str, customer_id: str) -> MemberRef:
        member = self.members.index.get(store, customer_id) or {}
        return MemberRef(
            customer_id=customer_id,
            email=member.get("email"),
            phone=member.get("phone"),
            loyalty_card_number=member.get("loyaltyCardNumber"),
            active=bool(member.get("active", bool(member))),
        )

    async def _evaluate(self, stream: Any) -> None:
        await self._ready()
        async for event in stream.events():
            with metrics.PROCESSING.labels("evaluate").time():
                await self._evaluate_one(event.message)

    async def _evaluate_one(self, msg: Any) -> None:
        parts = split_key(msg.key)
        store = self.settings.store_map.get(parts[0]) if parts else None
        try:
            name, record = self.serde.decode(msg.value)
        except DecodeError as exc:
            await self._dead_letter(msg, exc.reason, str(exc))
            return
        if parts is None or store is None:
            await self._dead_letter(msg, "unknown_store", "member-events record without a known store key")
        elif name == "ProcessorSignal":
            if record["kind"] == "member_deleted":
                await self._forget(msg.key, store.code)
        else:
            await self._apply(msg.key, store, parts[1], record)

    async def _forget(self, key: bytes, store: str) -> None:
        """A deleted member: its state goes, and so do the outcomes of its events (they carry its identifiers);
        what earlier outputs hold stays in their topics until retention removes it (docs/operations.md)."""
        state, _raw = self.states.load(key)
        for custom_event_id in state.log:
            await self.outcomes.send(key=join_key(store, custom_event_id), value=None)
        self.states.delete(key)

    async def _apply(self, key: bytes, store: Store, customer_id: str, record: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        created_at = _created_at(record.get("createdAt"), now)
        metrics.EVENT_AGE.observe(max(0.0, (now - created_at).total_seconds()))
        domain_event = Event(
            custom_event_id=record["customEventId"],
            event_id=record.get("eventId"),
            type=record["type"],
            event_date=parse_event_date(record["eventDate"], store.tz),
            body=orjson.loads(record["body"]),
            created_at=created_at,
        )
        state, old = self.states.load(key)
        result = process_event(
            state,
            domain_event,
            self.catalog.for_store(store.code),
            self._member_ref(store.code, customer_id),
            store_code=store.code,
            tz=store.tz,
            now=now,
        )
        if result.duplicate:
            # A re-delivered event is already in our local store, but a kill -9 may have come before its
            # changelog record left: write the state again so the changelog (what another worker or a
            # cold start restores) has it before this offset is committed.
            self.states.rewrite(key, old)
        else:
            kept = prune(
                result.state, now=now, retention=self.retention, outputs_retention=self.commits.outputs_retention()
            )
            self.states.save(key, kept, old)
        await self._emit(key, result.outputs)
        outcome = result.outcome
        await self._outcome(
            record,
            outcome.status,
            reason=outcome.reason,
            reasons=dict(outcome.reasons),
            changed=list(outcome.changed),
            customer_id=customer_id,
        )

    def _subscribed(self, output: WebhookOutput) -> bool:
        return self.control.has_subscription(output.store_code, output.event_name)

    async def _emit(self, key: bytes, outputs: tuple[WebhookOutput, ...]) -> None:
        if not self.settings.processor_emit_outputs:
            return  # a replay without --emit rebuilds state silently
        for output in outputs:
            if output.event_name == "AchievementsWereProcessed" and not self._subscribed(output):
                continue
            if output.event_name == "MemberAchievementProgressWasChanged":
                value = self.serde.encode("MemberAchievementProgressChanged", progress_record(output))
                await self.progress_out.send(key=key, value=value)
                metrics.EVENTS_OUT.labels(self.progress_out.get_topic_name(), output.store_code).inc()
            if not self._subscribed(output):
                continue  # nobody would receive it (the sender snapshots subscriptions at fan-out anyway)
            seen = self.control.mirror.position(self.topics.subscriptions.name, 0)
            message = webhook_record(output, subscriptions_offset=seen)
            await self.webhooks_out.send(key=key, value=self.serde.encode("WebhookMessage", message))
            metrics.EVENTS_OUT.labels(self.webhooks_out.get_topic_name(), output.store_code).inc()

    # -- claims: members' identifiers, one store at a time -------------------------------------------
    async def _catch_up_members(self) -> None:
        """Wait until our copy of the members topic includes every write made before now."""
        loop = asyncio.get_running_loop()

        def ends() -> dict[tuple[str, int], int]:
            c = consumer(self.settings, group="unused-members-end")
            try:
                return {(self.members.topic, p): o for p, o in end_offsets(c, self.members.topic).items()}
            finally:
                c.close()

        await self.members.mirror.wait_async(await loop.run_in_executor(None, ends), HOLD_TIMEOUT)

    async def _claims(self, stream: Any) -> None:
        await self._ready()
        async for event in stream.events():
            msg = event.message
            try:
                _name, command = self.serde.decode(msg.value, expect="MemberCommand")
            except DecodeError as exc:
                await self._dead_letter(msg, exc.reason, str(exc))
                continue
            store = command["storeCode"]
            if msg.key != store.encode():
                # One store's commands must be decided one at a time: move it to the store's partition.
                await self.member_commands.send(key=store.encode(), value=msg.value)
                continue
            await self._claim(command)

    async def _claim(self, command: dict[str, Any]) -> None:
        store, customer_id, op = command["storeCode"], command["customerId"], command["op"]
        if store not in self.settings.store_map:
            decision = decide({**command, "op": "unknown-store"}, self.members.index)
        else:
            await self._catch_up_members()
            decision = decide(command, self.members.index)
        where = None
        if decision.accepted:
            if not decision.unchanged:
                value = None if decision.member is None else self.serde.encode("Member", decision.member)
                written = await self.members_out.send(key=join_key(store, customer_id), value=value)
                where = await written  # on the members topic before anyone is told
                self.members.index.apply(store, customer_id, decision.member)
                if op == "register":
                    message = customer_registered(store, decision.member or {})
                    await self.webhooks_out.send(
                        key=join_key(store, customer_id), value=self.serde.encode("WebhookMessage", message)
                    )
            await self._signal_member(store, customer_id, decision.member, decision.previous)
        reply = {
            "membersPartition": where.partition if where is not None else -1,
            "membersOffset": where.offset if where is not None else -1,
            "requestId": command["requestId"],
            "storeCode": store,
            "customerId": customer_id,
            "op": op,
            "accepted": decision.accepted,
            "errors": decision.errors,
            "sentAt": iso_utc(),
        }
        await self.member_replies.send(key=command["requestId"].encode(), value=self.serde.encode("MemberReply", reply))

    async def _signal_member(
        self, store: str, customer_id: str, member: dict[str, Any] | None, previous: dict[str, Any] | None
    ) -> None:
        """Tell every input partition (in order with its events) and, on delete, the member's own partition."""
        kind = "member_changed" if member is not None else "member_deleted"
        signal = self.serde.encode(
            "ProcessorSignal",
            {
                "kind": kind,
                "storeCode": store,
                "customerId": customer_id,
                "member": member or previous,
                "sentAt": iso_utc(),
            },
        )
        for partition in range(self.topics.custom_events.partitions):
            await self.input.send(value=signal, partition=partition)
        if member is None:
            await self.member_events.send(key=join_key(store, customer_id), value=signal)


def _created_at(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return default


def main(settings: Settings | None = None, argv: list[str] | None = None) -> None:
    import sys

    from loyalty_stream.logs import configure_logging

    settings = settings or Settings()
    configure_logging(settings, service="processor")
    processor = Processor(settings)
    level = {"warning": "warn", "critical": "crit"}.get(settings.log_level.lower(), settings.log_level.lower())
    sys.argv = ["processor", "worker", "--loglevel", level, *(argv or [])]
    processor.app.main()
