"""The evaluate agent: member events in batches → achievement progress, outputs, one state write per member.

    {app}-member-events ──evaluate──▶ progress + applied tables, loyalty.achievement-progress,
                                      loyalty.webhooks, loyalty.custom-event-outcomes

All of a member's events come through one partition of the member-events topic, in one order: what the agent
decides for a member depends only on that order and on the member's stored state, so an event applied again
after a crash gives the same outputs with the same messageIds. Which events are applied already is decided
by ``processors.dedup`` (a watermark per member, a marker per customEventId).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from loyalty_stream.config.settings import Store
from loyalty_stream.domain import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    Event,
    MemberRef,
    MemberState,
    WebhookOutput,
    process_event,
)
from loyalty_stream.domain.clock import UTC_ZONE
from loyalty_stream.domain.events import TRANSACTION_TYPE, parse_event_date
from loyalty_stream.domain.transactions import TRANSACTION_ASSIGNED, assigned_data
from loyalty_stream.domain.webhooks import member_view
from loyalty_stream.kafka.keys import join_key, split_key
from processors import metrics
from processors.batch import Batch, Pipeline
from processors.context import Context, Counts, observe
from processors.dedup import Position, marker_key, marker_value, member_prefix, read_marker, verdict
from processors.outputs import progress_record, transaction_webhook, webhook_record
from processors.tables import ChangelogTable, MemberStates
from schemas.serde import DecodeError

log = logging.getLogger(__name__)

CHUNK_EVENTS = 500  # member events computed before their commit starts (processors/batch.py, Pipeline)


@dataclass
class _Member:
    """A member's state while a batch is applied to it; written back once, at the end of the batch."""

    partition: int
    state: MemberState
    watermark: Position | None
    prefix: bytes  # of its markers' keys
    legacy: dict[str, float]  # applied log of a value written before watermarks (processors/tables.py)
    changed: bool = False


class Evaluate:
    def __init__(self, ctx: Context, states: ChangelogTable, applied: ChangelogTable) -> None:
        self.ctx = ctx
        self.states_table = states
        self.states = MemberStates(states, window_seconds=ctx.settings.dedup_window_days * 86_400)
        self.applied = applied
        self._progress = ctx.topics.progress
        self._webhooks = ctx.topics.webhooks
        self._progress_topic = self._progress.name
        self._webhooks_topic = self._webhooks.name
        self._subscriptions_topic = ctx.topics.subscriptions.name

    async def __call__(self, stream: Any) -> None:
        ctx = self.ctx
        await ctx.ready()
        pipeline = Pipeline(ctx.producer, (self.states_table, self.applied), stream)
        try:
            async for events in stream.noack_take(
                ctx.settings.processor_batch_max_events, ctx.settings.processor_batch_seconds
            ):
                for part in self._parts(events):
                    batch, counts = pipeline.chunk(), Counts()
                    self.handle(batch, counts, part)
                    await pipeline.commit(batch, [event for event, _name, _record in part])
                    counts.publish()
                    observe("evaluate", batch, len(part))
        except BaseException:
            pipeline.abort()  # its events are never acknowledged: never committed
            raise

    def _parts(self, events: list[Any]) -> Iterator[list[tuple[Any, str, dict[str, Any] | DecodeError]]]:
        """The batch's events with their records decoded, in parts of about ``CHUNK_EVENTS`` member events."""
        part: list[tuple[Any, str, dict[str, Any] | DecodeError]] = []
        size = 0
        for event in events:
            try:
                name, record = self.ctx.serde.decode(event.message.value)
            except DecodeError as exc:
                part.append((event, "", exc))
                continue
            if name == "MemberEventBatch":
                record = {"events": orjson.loads(record["events"])}
            part.append((event, name, record))
            size += len(record["events"]) if name == "MemberEventBatch" else 1
            if size >= CHUNK_EVENTS:
                yield part
                part, size = [], 0
        if part:
            yield part

    def handle(self, batch: Batch, counts: Counts, part: list[tuple[Any, str, dict[str, Any] | DecodeError]]) -> None:
        """Apply decoded member-events records (synchronously: nothing else touches these members meanwhile)."""
        members: dict[bytes, _Member] = {}
        for event, name, record in part:
            msg = event.message
            if isinstance(record, DecodeError):
                self.ctx.dead_letter(batch, msg, record.reason, str(record))
            elif name == "MemberEventBatch":
                # The record's time: the same on every re-delivery, so outputs applied again are the same.
                at = datetime.fromtimestamp(msg.timestamp, UTC)
                for index, item in enumerate(record["events"]):
                    self._apply(batch, counts, members, msg, (msg.offset, index), item, at)
            elif name == "ProcessorSignal" and record["kind"] == "member_deleted":
                self._forget(batch, members, msg)
            elif name == "CustomEvent" and (parts := split_key(msg.key)) is not None:
                # One event per record, as versions before MemberEventBatch forwarded them: read across upgrades.
                item = {**record, "customerId": parts[1], "customerData": record.get("customerData") or {}}
                self._apply(
                    batch, counts, members, msg, (msg.offset, 0), item, datetime.fromtimestamp(msg.timestamp, UTC)
                )
            else:
                self.ctx.dead_letter(batch, msg, "unexpected_record_type", f"a {name} record on member-events")
        for key, member in members.items():
            if member.changed:
                self.states.save(member.partition, key, member.state, member.watermark, member.legacy)

    def _member_ref(self, store: str, customer_id: str) -> MemberRef:
        member = self.ctx.members.index.get(store, customer_id) or {}
        return MemberRef(
            customer_id=customer_id,
            email=member.get("email"),
            phone=member.get("phone"),
            loyalty_card_number=member.get("loyaltyCardNumber"),
            active=bool(member.get("active", bool(member))),
        )

    def _apply(
        self,
        batch: Batch,
        counts: Counts,
        members: dict[bytes, _Member],
        msg: Any,
        position: Position,
        item: dict[str, Any],
        at: datetime,
    ) -> None:
        ctx = self.ctx
        store = ctx.settings.store_map.get(item["storeCode"])
        if store is None:
            log.warning(
                "member-events: unknown store %r at %s/%s@%s", item["storeCode"], msg.topic, msg.partition, msg.offset
            )
            return
        customer_id, custom_event_id = item["customerId"], item["customEventId"]
        key = join_key(store.code, customer_id)
        member = members.get(key)
        if member is None:
            stored = self.states.load(msg.partition, key)
            member = _Member(msg.partition, stored.state, stored.watermark, member_prefix(key), stored.legacy)
            members[key] = member
        marker_at = marker_key(member.prefix, custom_event_id)
        marker = read_marker(self.applied.get(msg.partition, marker_at))
        decision = verdict(position, member.watermark, marker[0] if marker else None)
        if decision == "apply" and custom_event_id in member.legacy:
            decision = "duplicate"  # applied by a version before watermarks
        if decision != "apply":
            metrics.DUPLICATES.labels(decision).inc()
            if decision == "redelivered" and marker is None:
                # Applied, but a kill -9 may have kept its marker from the changelog: write it again.
                self.applied.set(msg.partition, marker_at, marker_value(position, custom_event_id))
            return
        try:
            event = self._event(store, item, at)
            result = self._evaluate(store, customer_id, member.state, event, at)
        except Exception as exc:  # a bug must cost one event (dead-lettered, with the reason), not the worker
            log.exception("evaluate failed for %s/%s", store.code, custom_event_id)
            ctx.dead_letter(batch, msg, "processing_error", f"event {custom_event_id}: {exc!r}")
            ctx.outcome(batch, counts, item, "dead_lettered", reason="processing_error", decided_at=at.isoformat())
            return
        self.applied.set(msg.partition, marker_at, marker_value(position, custom_event_id))
        if item["type"] == TRANSACTION_TYPE:
            self._assigned(batch, store, customer_id, event, at)
        if result.outputs:
            member.state, member.watermark, member.changed = result.state, position, True
            self._emit(batch, counts, key, store.code, result.outputs)
        outcome = result.outcome
        ctx.outcome(
            batch,
            counts,
            item,
            outcome.status,
            decided_at=at.isoformat(),
            reason=outcome.reason,
            reasons=dict(outcome.reasons),
            changed=list(outcome.changed),
            customer_id=customer_id,
        )

    @staticmethod
    def _event(store: Store, item: dict[str, Any], at: datetime) -> Event:
        created_at = _created_at(item.get("createdAt"), at)
        metrics.EVENT_AGE.observe(max(0.0, (datetime.now(UTC) - created_at).total_seconds()))
        return Event(
            custom_event_id=item["customEventId"],
            event_id=item.get("eventId"),
            type=item["type"],
            event_date=parse_event_date(item["eventDate"], store.tz),
            body=orjson.loads(item["body"]),
            created_at=created_at,
        )

    def _evaluate(self, store: Store, customer_id: str, state: MemberState, event: Event, at: datetime) -> Any:
        return process_event(
            state,
            event,
            self.ctx.catalog.listening(store.code, event.type),
            self._member_ref(store.code, customer_id),
            store_code=store.code,
            tz=store.tz,
            now=at,
            processed=self.ctx.control.has_subscription(store.code, ACHIEVEMENTS_PROCESSED),
        )

    def _assigned(self, batch: Batch, store: Store, customer_id: str, event: Event, at: datetime) -> None:
        """TransactionAssignedToCustomer, to whoever subscribed: when a transaction is first applied to its member
        (the dedup makes that once; a re-delivery before the commit repeats it with the same messageId)."""
        ctx = self.ctx
        if not ctx.settings.processor_emit_outputs or not ctx.control.has_subscription(
            store.code, TRANSACTION_ASSIGNED
        ):
            return
        member = member_view(self._member_ref(store.code, customer_id))
        data = assigned_data(event.custom_event_id, event.body, member)
        message = transaction_webhook(store.code, TRANSACTION_ASSIGNED, event.custom_event_id, customer_id, data,
                                      at.isoformat())  # fmt: skip
        value = ctx.serde.encode_for(self._webhooks, message)
        batch.send(self._webhooks_topic, value, key=join_key(store.code, customer_id))

    def _emit(self, batch: Batch, counts: Counts, key: bytes, store: str, outputs: tuple[WebhookOutput, ...]) -> None:
        ctx = self.ctx
        if not ctx.settings.processor_emit_outputs:
            return  # a replay without --emit rebuilds state silently
        control = ctx.control
        for output in outputs:
            progress = output.event_name == PROGRESS_CHANGED
            subscribed = control.has_subscription(output.store_code, output.event_name)
            if not (progress or subscribed):
                continue
            data = orjson.dumps(output.data)  # UTF-8 bytes: the Avro writers take them as they are
            if progress:
                batch.send(
                    self._progress_topic,
                    ctx.serde.encode_for(self._progress, progress_record(output, data)),
                    key=key,
                )
                counts.records_out[(self._progress_topic, store)] += 1
            if subscribed:
                seen = control.mirror.position(self._subscriptions_topic, 0)
                message = webhook_record(output, data, subscriptions_offset=seen)
                batch.send(self._webhooks_topic, ctx.serde.encode_for(self._webhooks, message), key=key)
                counts.records_out[(self._webhooks_topic, store)] += 1

    def _forget(self, batch: Batch, members: dict[bytes, _Member], msg: Any) -> None:
        """A deleted member: its state and markers go, and so do the outcomes of its events (they carry its
        identifiers); what earlier outputs hold stays in their topics until retention removes it
        (docs/operations.md)."""
        parts = split_key(msg.key)
        if parts is None:
            return
        key = msg.key
        members.pop(key, None)
        for custom_event_id in self.states.load(msg.partition, key).legacy:
            batch.send(self.ctx.topics.custom_event_outcomes.name, None, key=join_key(parts[0], custom_event_id))
        for marker_at, value in self.applied.items_with_prefix(msg.partition, member_prefix(key)):
            found = read_marker(value)
            if found is not None:
                batch.send(self.ctx.topics.custom_event_outcomes.name, None, key=join_key(parts[0], found[1]))
            self.applied.delete(msg.partition, marker_at)
        self.states.delete(msg.partition, key)


def _created_at(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        return parse_event_date(value, UTC_ZONE)
    except ValueError:
        return default
