"""The claims agent: member commands from the API, one store at a time → the members topic, a signal to every
input partition (in order with events there) and the API's reply.

    loyalty.member-commands ──claims──▶ loyalty.members + signals to every input partition + loyalty.member-replies

Commands come in batches (what arrived within the processor's batch window): the agent catches its copy of the
members topic up once per batch (one ListOffsets request), decides the batch's commands in order (each sees
the ones before it), writes their members through the librdkafka producer, and once those are on the broker
sends the webhooks, the replies and one members_changed signal per input partition; the commands are
acknowledged once all of that is on the broker. A crash anywhere leaves the commands unacknowledged:
re-delivered, a command already written is answered again ("unchanged"), never applied twice
(processors/claims.py).

The agent does not wait for a batch's replies and signals to be on the broker before it decides the next
batch (a ``Pipeline``, as intake and evaluate have): that wait was two thirds of a registration's round trip
(13 of 19 ms, docs/benchmarks.md "2026-12-06"), and nothing the next batch decides rests on it. Its decisions
rest on the members records, which are still on the broker before any reply; its commands are acknowledged
only after the earlier batches' (faust commits consecutive offsets only).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key, member_partition
from processors.batch import Batch, Delivery, Pipeline
from processors.claims import Decision, decide
from processors.context import Context
from processors.outputs import customer_registered
from schemas.serde import DecodeError

HOLD_TIMEOUT = 10.0  # how long a batch waits for our copy of the members topic to catch up
MAX_COMMANDS = 500  # per batch
SIGNAL_CHANGES = 100  # member changes per signal record (a member record is at most a few KiB)


@dataclass(frozen=True, slots=True)
class _Claim:
    command: dict[str, Any]
    decision: Decision
    written: bool  # a new members record was produced for it


class Claims:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def __call__(self, stream: Any) -> None:
        await self.ctx.ready()
        pipeline = Pipeline(self.ctx.producer, (), stream)
        try:
            async for events in stream.noack_take(MAX_COMMANDS, self.ctx.settings.processor_batch_seconds):
                batch = pipeline.chunk()
                await self.handle(batch, events)
                await pipeline.commit(batch, events)  # acknowledged once its outputs are on the broker
        except BaseException:
            pipeline.abort()  # its commands are never acknowledged: re-delivered and answered again
            raise

    async def handle(self, batch: Batch, events: list[Any]) -> None:
        ctx, topics = self.ctx, self.ctx.topics
        commands = []
        for event in events:
            msg = event.message
            try:
                _name, command = ctx.serde.decode(msg.value, expect="MemberCommand")
            except DecodeError as exc:
                ctx.dead_letter(batch, msg, exc.reason, str(exc))
                continue
            if msg.key != command["storeCode"].encode():
                # One store's commands must be decided one at a time: move it to the store's partition.
                batch.send(topics.member_commands.name, msg.value, key=command["storeCode"].encode())
            else:
                commands.append(command)
        if any(c["storeCode"] in ctx.settings.store_map for c in commands):
            await self._catch_up_members()
        members = Delivery(asyncio.get_running_loop(), offsets=True)
        claims = [self._decide(command, members) for command in commands]
        await ctx.producer.settle(members)  # on the members topic before anyone is told
        changes: list[dict[str, Any]] = []
        for claim in claims:
            self._tell(batch, claim, members, changes)
        self._signal_members(batch, changes)

    async def _catch_up_members(self) -> None:
        """Wait until our copy of the members topic includes every write made before now (the previous owner
        of a store's commands may have written some just before a rebalance)."""
        await self.ctx.members.mirror.sync(HOLD_TIMEOUT)

    def _decide(self, command: dict[str, Any], members: Delivery) -> _Claim:
        ctx = self.ctx
        store, customer_id = command["storeCode"], command["customerId"]
        if store not in ctx.settings.store_map:
            return _Claim(command, decide({**command, "op": "unknown-store"}, ctx.members.index), False)
        decision = decide(command, ctx.members.index)
        if not decision.accepted or decision.unchanged:
            return _Claim(command, decision, False)
        value = None if decision.member is None else ctx.serde.encode_for(ctx.topics.members, decision.member)
        ctx.producer.produce(members, ctx.topics.members.name, value, join_key(store, customer_id))
        # The next command of the batch is decided with this one applied; the write is settled before any
        # reply, and retried until it is on the broker (processors/batch.py), so no answer rests on a guess.
        ctx.members.index.apply(store, customer_id, decision.member)
        return _Claim(command, decision, True)

    def _tell(self, batch: Batch, claim: _Claim, members: Delivery, changes: list[dict[str, Any]]) -> None:
        ctx, topics = self.ctx, self.ctx.topics
        command, decision = claim.command, claim.decision
        store, customer_id, op = command["storeCode"], command["customerId"], command["op"]
        partition, offset = -1, -1
        if claim.written:
            partition = member_partition(store, customer_id, topics.members.partitions)
            offset = members.last_offsets[(topics.members.name, partition)]  # this record's, or a later one's
            if op == "register":
                message = customer_registered(store, decision.member or {})
                batch.send(
                    topics.webhooks.name,
                    ctx.serde.encode_for(topics.webhooks, message),
                    key=join_key(store, customer_id),
                )
        if decision.accepted:
            kind = "member_changed" if decision.member is not None else "member_deleted"
            changes.append(
                {
                    "kind": kind,
                    "storeCode": store,
                    "customerId": customer_id,
                    "member": decision.member or decision.previous,
                }
            )
            if decision.member is None:
                self._signal_deleted(batch, store, customer_id, decision.previous)
        reply = {
            "membersPartition": partition,
            "membersOffset": offset,
            "requestId": command["requestId"],
            "storeCode": store,
            "customerId": customer_id,
            "op": op,
            "accepted": decision.accepted,
            "errors": decision.errors,
            "sentAt": iso_utc(),
        }
        batch.send(
            topics.member_replies.name,
            ctx.serde.encode_for(topics.member_replies, reply),
            key=command["requestId"].encode(),
        )

    def _signal_members(self, batch: Batch, changes: list[dict[str, Any]]) -> None:
        """Tell every input partition (in order with its events) of the batch's changes: one members_changed
        signal per partition and ``SIGNAL_CHANGES`` changes, not one per member and partition (a batch of
        500 registrations was 6,000 records, and half the import's cost)."""
        topics = self.ctx.topics
        for start in range(0, len(changes), SIGNAL_CHANGES):
            signal = self.ctx.serde.encode_for(
                topics.custom_events,
                {
                    "kind": "members_changed",
                    "storeCode": "",
                    "customerId": None,
                    "member": None,
                    "sentAt": iso_utc(),
                    "changes": changes[start : start + SIGNAL_CHANGES],
                },
                "ProcessorSignal",
            )
            for partition in range(topics.custom_events.partitions):
                batch.send(topics.custom_events.name, signal, partition=partition)

    def _signal_deleted(self, batch: Batch, store: str, customer_id: str, previous: dict[str, Any] | None) -> None:
        """A deletion also goes to the member's own member-events partition: its progress is forgotten there."""
        topics = self.ctx.topics
        signal = self.ctx.serde.encode_for(
            topics.member_events,
            {
                "kind": "member_deleted",
                "storeCode": store,
                "customerId": customer_id,
                "member": previous,
                "sentAt": iso_utc(),
            },
            "ProcessorSignal",
        )
        batch.send(
            topics.member_events.name,
            signal,
            key=join_key(store, customer_id),
            partition=member_partition(store, customer_id, topics.member_events.partitions),
        )
