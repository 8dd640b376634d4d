"""The intake agent: input records in batches → validated, matched to their member, forwarded to the member's
partition of the member-events topic, many events per record.

    loyalty.custom-events ──intake──▶ {app}-member-events (one MemberEventBatch per member partition and batch)
    undecodable / invalid ──▶ loyalty.custom-events.dlq      unknown member ──▶ parked ──(expiry)──▶ .unmatched

Signals (ProcessorSignal records the claims agent and a timer send to every input partition) are handled in
order with the events around them: a registration takes the events parked for its identifiers, a deletion
releases them, a tick expires old ones.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.domain.events import TRANSACTION_TYPE
from loyalty_stream.domain.identity import identifiers_of
from loyalty_stream.domain.ids import source_event_id
from loyalty_stream.domain.transactions import TRANSACTION_REGISTERED, registered_data
from loyalty_stream.kafka.keys import join_key, member_partition
from loyalty_stream.replicas.members import MEMBER_IDENTIFIERS
from processors.batch import Batch, Pipeline
from processors.context import Context, Counts, observe
from processors.intake import Admitted, Rejected, admit, decode
from processors.outputs import transaction_webhook
from processors.parking import Parked, ParkingLot, split_known
from processors.tables import ChangelogTable

log = logging.getLogger(__name__)

HOLD_TIMEOUT = 10.0  # how long an event waits for the control plane it was stamped with
CHUNK_RECORDS = 500  # input records handled before their commit starts (processors/batch.py, Pipeline)
SIGNALS_KEPT = 64  # decoded signals kept for the other partitions' copies (Intake._decode)
FORWARD_RECORD_BYTES = 256 * 1024  # a MemberEventBatch record stays well below the broker's 1 MiB limit
_CUSTOMER_FIELDS = ("customerId", "email", "phone", "loyaltyCardNumber")


class Forwards:
    """Events on their way to the member-events topic, per partition, in the order they were decided."""

    def __init__(self, ctx: Context, batch: Batch) -> None:
        self._ctx = ctx
        self._batch = batch
        self._partitions = ctx.topics.member_events.partitions
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._sizes: dict[int, int] = {}

    def add(self, store: str, customer_id: str, record: dict[str, Any]) -> None:
        partition = member_partition(store, customer_id, self._partitions)
        customer = record.get("customerData") or {}
        item = {
            "customerId": customer_id,
            "storeCode": store,
            "type": record["type"],
            "eventDate": record["eventDate"],
            "customerData": {k: customer.get(k) for k in _CUSTOMER_FIELDS},
            "body": record.get("body") or "{}",
            "eventId": record.get("eventId"),
            "customEventId": record["customEventId"],
            "createdAt": record.get("createdAt"),
        }
        self._pending.setdefault(partition, []).append(item)
        size = self._sizes.get(partition, 0) + len(item["body"]) + 200
        self._sizes[partition] = size
        if size >= FORWARD_RECORD_BYTES:
            self._send(partition)

    def _send(self, partition: int) -> None:
        items = self._pending.pop(partition, None)
        self._sizes.pop(partition, None)
        if items:
            value = self._ctx.serde.encode_for(self._ctx.topics.member_events, {"events": orjson.dumps(items)})
            self._batch.send(self._ctx.topics.member_events.name, value, partition=partition)

    def send_all(self) -> None:
        for partition in sorted(self._pending):
            self._send(partition)


class Intake:
    def __init__(self, ctx: Context, parked: ChangelogTable, parking: ParkingLot, app: Any) -> None:
        self.ctx = ctx
        self.parked = parked
        self.parking = parking
        self._app = app
        self._takeover_ends: dict[Any, tuple[int, int]] = {}  # see _maybe_redelivered
        self._signals: dict[bytes, tuple[str, dict[str, Any]]] = {}  # see _decode

    async def __call__(self, stream: Any) -> None:
        ctx = self.ctx
        await ctx.ready()
        pipeline = Pipeline(ctx.producer, (self.parked,), stream)
        try:
            async for events in stream.noack_take(
                ctx.settings.processor_batch_max_events, ctx.settings.processor_batch_seconds
            ):
                for start in range(0, len(events), CHUNK_RECORDS):
                    part = events[start : start + CHUNK_RECORDS]
                    batch, counts = pipeline.chunk(), Counts()
                    forwards = Forwards(ctx, batch)
                    for event in part:
                        await self._handle(batch, counts, forwards, event.message)
                    forwards.send_all()
                    await pipeline.commit(batch, part)
                    counts.publish()
                    observe("intake", batch, len(part))
        except BaseException:
            pipeline.abort()  # its events are never acknowledged: never committed
            raise

    async def _handle(self, batch: Batch, counts: Counts, forwards: Forwards, msg: Any) -> None:
        try:
            await self._handle_one(batch, counts, forwards, msg)
        except Exception as exc:  # a bug must cost one record (dead-lettered, with the reason), not the worker
            log.exception("intake failed for %s/%s@%s", msg.topic, msg.partition, msg.offset)
            self.ctx.dead_letter(batch, msg, "processing_error", repr(exc))

    def _decode(self, value: bytes | None) -> tuple[str, dict[str, Any]] | Rejected:
        """``decode``, but a signal decoded once for all partitions: the claims agent sends the same
        members_changed record (up to 100 members) to every input partition, and decoding it on each was the
        larger part of the processor's time in a registration run (py-spy). Records are not changed by their
        readers, so one decoded copy serves every partition."""
        found = self._signals.get(value) if value else None
        if found is not None:
            return found
        decoded = decode(self.ctx.serde, value)
        if value and not isinstance(decoded, Rejected) and decoded[0] == "ProcessorSignal":
            if len(self._signals) >= SIGNALS_KEPT:
                del self._signals[next(iter(self._signals))]  # the oldest
            self._signals[value] = decoded
        return decoded

    async def _handle_one(self, batch: Batch, counts: Counts, forwards: Forwards, msg: Any) -> None:
        decoded = self._decode(msg.value)
        if isinstance(decoded, Rejected):
            self.ctx.dead_letter(batch, msg, decoded.reason, decoded.message)
        elif decoded[0] == "ProcessorSignal":
            self._on_signal(batch, counts, forwards, msg, decoded[1])
        else:
            counts.records_in[(msg.topic, str(decoded[1].get("storeCode")))] += 1
            await self._on_event(batch, counts, forwards, msg, decoded[1])

    async def _hold_for_control_plane(self, offsets: dict[str, int]) -> None:
        names = {t.name for t in self.ctx.topics.control_plane}
        wanted = {(topic, 0): offset for topic, offset in offsets.items() if topic in names}
        if wanted and not self.ctx.control.mirror.reached(wanted):
            await self.ctx.control.mirror.wait_async(wanted, HOLD_TIMEOUT)

    async def _on_event(
        self, batch: Batch, counts: Counts, forwards: Forwards, msg: Any, record: dict[str, Any]
    ) -> None:
        ctx = self.ctx
        offsets = record.get("controlOffsets")
        if offsets:
            await self._hold_for_control_plane(offsets)
        admitted = admit(
            record,
            stores=ctx.settings.store_map,
            schemas=ctx.control.schemas,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            now=datetime.now(UTC),
        )
        if isinstance(admitted, Rejected):
            ctx.dead_letter(batch, msg, admitted.reason, admitted.message)
            if isinstance(record.get("storeCode"), str) and record["storeCode"] in ctx.settings.store_map:
                known = {
                    **record,
                    "customEventId": record.get("customEventId")
                    or source_event_id(msg.topic, msg.partition, msg.offset),
                }
                if isinstance(known.get("type"), str) and isinstance(known.get("eventDate"), str):
                    ctx.outcome(batch, counts, known, "dead_lettered", reason=admitted.reason)
            return
        if admitted.record["type"] == TRANSACTION_TYPE:
            self._registered(batch, msg, admitted)
        self._route(batch, counts, forwards, msg, admitted)

    def _registered(self, batch: Batch, msg: Any, admitted: Admitted) -> None:
        """TransactionRegistered, to whoever subscribed: once per transaction accepted (again, with the same
        messageId, when its document comes again or its record is re-delivered)."""
        ctx, store, record = self.ctx, admitted.store, admitted.record
        if not ctx.control.has_subscription(store.code, TRANSACTION_REGISTERED):
            return
        tid = record["customEventId"]
        purchased = admitted.event_date.astimezone(store.tz).isoformat()
        data = registered_data(tid, admitted.body, record["customerData"], purchased)
        created = record.get("createdAt") or datetime.fromtimestamp(msg.timestamp, UTC).isoformat()
        message = transaction_webhook(store.code, TRANSACTION_REGISTERED, tid, None, data, created)
        value = ctx.serde.encode_for(ctx.topics.webhooks, message)
        batch.send(ctx.topics.webhooks.name, value, key=join_key(store.code, tid))

    def _route(self, batch: Batch, counts: Counts, forwards: Forwards, msg: Any, admitted: Admitted) -> None:
        ctx = self.ctx
        store, record = admitted.store, admitted.record
        resolution = ctx.members.index.resolve(store.code, record["customerData"], store.identifier_order)
        if resolution.ambiguous:
            ctx.dead_letter(batch, msg, "ambiguous_member", "the identifiers resolve to different members")
            ctx.outcome(batch, counts, record, "dead_lettered", reason="ambiguous_member")
        elif resolution.customer_id is not None:
            forwards.add(store.code, resolution.customer_id, record)
        else:
            identifiers = identifiers_of(record["customerData"], store.identifier_order)
            if not identifiers:  # a transaction may name nobody: unmatched until POST /transaction/assign
                ctx.outcome(batch, counts, record, "unmatched", reason="no_customer_data")
                return
            evicted = self.parking.park(
                msg.partition, store.code, identifiers, record, iso_utc(admitted.event_date), time.time()
            )
            ctx.outcome(batch, counts, record, "parked", reason="member_not_registered")
            self._release(batch, counts, forwards, evicted, "parking_full")

    def _member_of(self, record: dict[str, Any]) -> str | None:
        store = self.ctx.settings.store_map.get(record["storeCode"])
        if store is None:
            return None
        return self.ctx.members.index.resolve(store.code, record["customerData"], store.identifier_order).customer_id

    def _release(self, batch: Batch, counts: Counts, forwards: Forwards, entries: list[Parked], reason: str) -> None:
        """Parked events that will never be counted: to the unmatched topic, with their reason. Those of a
        deleted member leave without its personal data (identifiers and body). An entry whose member is known
        by now is forwarded instead: a registration's claim takes its events at once, so such an entry is one
        a cold restore brought back after it was forwarded, and evaluate answers the duplicate with the first
        outcome, where expiring it would overwrite that outcome with "unmatched"."""
        if reason != "member_deleted":
            known, entries = split_known(entries, self._member_of)
            self._forward_parked(forwards, known)
        for entry in entries:
            if reason == "member_deleted":
                entry = replace(entry, record={**entry.record, "body": "{}", "customerData": {}})
            value = self.ctx.serde.encode_for(self.ctx.topics.custom_events_unmatched, entry.record)
            key = join_key(entry.record["storeCode"], entry.event_id)
            headers = {"loyalty-reason": reason.encode(), "loyalty-parked-at": str(entry.parked_at).encode()}
            batch.send(self.ctx.topics.custom_events_unmatched.name, value, key=key, headers=headers)
            self.ctx.outcome(batch, counts, entry.record, "unmatched", reason=reason)
        # Removed in this batch's table writes, which reach the changelog only after the records above.
        self.parking.remove(entries)

    def _forward_parked(self, forwards: Forwards, known: list[tuple[Parked, str]]) -> None:
        for entry, customer_id in known:
            forwards.add(entry.record["storeCode"], customer_id, entry.record)
        self.parking.remove([e for e, _ in known])

    def _maybe_redelivered(self, msg: Any) -> bool:
        """Could a worker have processed this record before? Only if it lies below the partition's end offset
        as known when this worker processed its first record of the partition in this consumer generation:
        later records were written after the partition was handed to us. Conservative: the first batch after
        every rebalance (and whatever backlog it holds) counts."""
        generation, tp = self._app.consumer_generation_id, msg.tp
        seen = self._takeover_ends.get(tp)
        if seen is None or seen[0] != generation:
            end = self._app.consumer.highwater(tp)
            if end is None:
                return True  # no fetch answered yet: assume it could be
            seen = self._takeover_ends[tp] = (generation, end)
        return bool(msg.offset < seen[1])

    def _on_signal(self, batch: Batch, counts: Counts, forwards: Forwards, msg: Any, signal: dict[str, Any]) -> None:
        kind = signal["kind"]
        if kind == "tick":
            self._release(batch, counts, forwards, self.parking.expire(msg.partition, time.time()), "parking_expired")
            return
        changes = (signal.get("changes") or ()) if kind == "members_changed" else (signal,)
        for change in changes:
            self._on_member(batch, counts, forwards, msg, change)

    def _on_member(self, batch: Batch, counts: Counts, forwards: Forwards, msg: Any, change: dict[str, Any]) -> None:
        """One member's change: a member_changed/member_deleted signal, or one of a members_changed's (both
        carry kind, storeCode, customerId and member)."""
        kind, store = change["kind"], change.get("storeCode", "")
        member = change.get("member")
        customer_id = change.get("customerId") or ""
        if kind == "member_changed" and member:
            self.ctx.members.index.apply(store, customer_id, member)  # in order with this partition's events
            # A claim on a partition with nothing of the store parked is one read (ParkingLot.claim): each change
            # reaches every input partition, and almost none has events parked.
            parked = self.parking.claim(
                msg.partition,
                store,
                identifiers_of(member, MEMBER_IDENTIFIERS),
                redelivered=self._maybe_redelivered(msg),
            )
            self._forward_parked(forwards, [(e, customer_id) for e in parked])
        elif kind == "member_deleted":
            gone = self.parking.claim(
                msg.partition,
                store,
                identifiers_of(member or {}, MEMBER_IDENTIFIERS),
                redelivered=self._maybe_redelivered(msg),
            )
            self._release(batch, counts, forwards, gone, "member_deleted")
