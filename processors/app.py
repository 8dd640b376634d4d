"""The faust-streaming app. Agents only decode → call the core → write → send.

    loyalty.custom-events ──intake──▶ loyalty.member-events (key storeCode:customerId) ──evaluate──▶
        progress table (per member) + loyalty.achievement-progress + loyalty.webhooks
    bad records ──▶ loyalty.custom-events.dlq        unknown members ──▶ loyalty.custom-events.unmatched

Both agents run with concurrency 1 (faust commits past in-flight events otherwise); parallelism comes
from partitions and workers.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import faust
import orjson

from loyalty_stream.controlplane import ControlPlane
from loyalty_stream.domain import Event, MemberRef, MemberState, WebhookOutput, process_event, prune
from loyalty_stream.domain.events import parse_event_date
from loyalty_stream.kafka import consumer, end_offsets
from loyalty_stream.keys import join_key, split_key
from loyalty_stream.members import MemberDirectory
from loyalty_stream.settings import Settings
from loyalty_stream.topics import build_topics
from processors.catalog import AchievementCatalog
from processors.intake import Admitted, Rejected, admit, decode
from processors.outputs import progress_record, webhook_record
from schemas.serde import Serde

log = logging.getLogger(__name__)

HOLD_TIMEOUT = 10.0  # how long an event waits for the control plane / members it was stamped with


class Processor:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.serde = Serde(settings.schema_registry_url)
        self.topics = build_topics(settings)
        self.control = ControlPlane(settings, self.serde)
        self.members = MemberDirectory(settings, self.serde, name="processor-members")
        self.catalog = AchievementCatalog(self.control)
        self.retention = timedelta(hours=settings.custom_events_retention_hours)
        self.app = self._build_app()

    # -- wiring ---------------------------------------------------------------------------------
    def _build_app(self) -> faust.App:
        s, t = self.settings, self.topics
        datadir = (s.data_dir / "processor").resolve()
        datadir.mkdir(parents=True, exist_ok=True)
        app = faust.App(
            s.processor_app_id,
            **s.faust_broker_kwargs(),
            store="rocksdb://",
            datadir=str(datadir),
            topic_partitions=s.topic_partitions,
            topic_replication_factor=s.topic_replication_factor,
            topic_allow_declare=False,  # every topic comes from loyalty_stream.topics
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            consumer_auto_offset_reset="earliest",
            web_host=s.api_host,
            web_port=s.processor_web_port,
            web_in_thread=False,
            autodiscover=False,
            stream_wait_empty=False,
            key_serializer="raw",  # we decode ourselves: a bad record is dead-lettered, never crashes an agent
            value_serializer="raw",
        )

        def raw(topic: Any) -> Any:
            return app.topic(topic.name, key_serializer="raw", value_serializer="raw", partitions=topic.partitions)

        self.input = raw(t.custom_events)
        self.member_events = raw(t.member_events)
        self.dlq = raw(t.custom_events_dlq)
        self.unmatched = raw(t.custom_events_unmatched)
        self.progress_out = raw(t.progress)
        self.webhooks_out = raw(t.webhooks)
        self.progress = app.Table(
            "progress",
            default=None,
            partitions=s.topic_partitions,
            key_type=bytes,
            value_type=bytes,
        )
        app.agent(self.input, name="intake", concurrency=1)(self._intake)
        app.agent(self.member_events, name="evaluate", concurrency=1)(self._evaluate)
        app.task(self._start_mirrors)
        return app

    async def _start_mirrors(self) -> None:
        self.control.start()
        self.members.start()

    async def _ready(self) -> None:
        """Agents start processing only once the control plane and members are loaded."""
        while not (self.control.mirror.caught_up and self.members.mirror.caught_up):
            await asyncio.sleep(0.05)

    # -- intake: decode, validate, resolve the member, repartition -------------------------------
    async def _dead_letter(self, event: Any, reason: str, message: str, *, unmatched: bool = False) -> None:
        msg = event.message
        headers = {
            "loyalty-reason": reason.encode(),
            "loyalty-error": message[:1000].encode(),
            "loyalty-source-topic": msg.topic.encode(),
            "loyalty-source-partition": str(msg.partition).encode(),
            "loyalty-source-offset": str(msg.offset).encode(),
        }
        target = self.unmatched if unmatched else self.dlq
        log.info(
            "dead-lettered %s/%s@%s: %s",
            msg.topic,
            msg.partition,
            msg.offset,
            reason,
            extra={"reason": reason, "error": message[:200]},
        )
        await target.send(key=msg.key, value=msg.value, headers=headers)

    async def _hold_for_control_plane(self, offsets: dict[str, int]) -> None:
        wanted = {
            (topic, 0): offset
            for topic, offset in offsets.items()
            if topic in {t.name for t in self.topics.control_plane}
        }
        if wanted and not self.control.mirror.reached(wanted):
            await self.control.mirror.wait_async(wanted, HOLD_TIMEOUT)

    async def _catch_up_members(self) -> None:
        """Wait until our copy of the members topic includes everything written before now."""
        loop = asyncio.get_running_loop()

        def ends() -> dict[tuple[str, int], int]:
            c = consumer(self.settings, group="unused-members-end")
            try:
                return {(self.members.topic, p): o for p, o in end_offsets(c, self.members.topic).items()}
            finally:
                c.close()

        await self.members.mirror.wait_async(await loop.run_in_executor(None, ends), HOLD_TIMEOUT)

    async def _intake(self, stream: Any) -> None:
        await self._ready()
        async for event in stream.events():
            msg = event.message
            record = decode(self.serde, msg.value)
            if isinstance(record, Rejected):
                await self._dead_letter(event, record.reason, record.message)
                continue
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
                await self._dead_letter(event, admitted.reason, admitted.message)
                continue
            await self._route(event, admitted)

    async def _route(self, event: Any, admitted: Admitted) -> None:
        store = admitted.store
        customer = admitted.record["customerData"]
        resolution = self.members.index.resolve(store.code, customer, store.identifier_order)
        if resolution.customer_id is None and not resolution.ambiguous:
            await self._catch_up_members()  # a registration acked just before this event
            resolution = self.members.index.resolve(store.code, customer, store.identifier_order)
        if resolution.ambiguous:
            await self._dead_letter(event, "ambiguous_member", "identifiers resolve to different members")
        elif resolution.customer_id is None:
            await self._dead_letter(
                event, "unknown_member", "no member matches the event's identifiers", unmatched=True
            )
        else:
            await self.member_events.send(
                key=join_key(store.code, resolution.customer_id),
                value=self.serde.encode("CustomEvent", admitted.record),
            )

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
            parts = split_key(event.message.key)
            if parts is None:
                continue
            store_code, customer_id = parts
            store = self.settings.store_map.get(store_code)
            _name, record = self.serde.decode(event.message.value, expect="CustomEvent")
            if store is None:
                continue
            now = datetime.now(UTC)
            domain_event = Event(
                custom_event_id=record["customEventId"],
                event_id=record.get("eventId"),
                type=record["type"],
                event_date=parse_event_date(record["eventDate"], store.tz),
                body=orjson.loads(record["body"]),
                created_at=_created_at(record.get("createdAt"), now),
            )
            key = event.message.key
            stored = self.progress.get(key)
            state = MemberState.from_dict(orjson.loads(stored)) if stored else MemberState.empty()
            result = process_event(
                state,
                domain_event,
                self.catalog.for_store(store_code),
                self._member_ref(store_code, customer_id),
                store_code=store_code,
                tz=store.tz,
                now=now,
            )
            if not result.duplicate:
                self.progress[key] = orjson.dumps(prune(result.state, now=now, retention=self.retention).to_dict())
            await self._emit(key, result.outputs)

    async def _emit(self, key: bytes, outputs: tuple[WebhookOutput, ...]) -> None:
        for output in outputs:
            if output.event_name == "MemberAchievementProgressWasChanged":
                await self.progress_out.send(
                    key=key, value=self.serde.encode("MemberAchievementProgressChanged", progress_record(output))
                )
            await self.webhooks_out.send(key=key, value=self.serde.encode("WebhookMessage", webhook_record(output)))


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
    sys.argv = ["processor", "worker", "--loglevel", settings.log_level.lower(), *(argv or [])]
    processor.app.main()
