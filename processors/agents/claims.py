"""The claims agent: member commands from the API, one store at a time → the members topic, a signal to every
input partition (in order with events there) and the API's reply.

    loyalty.member-commands ──claims──▶ loyalty.members + signals to every input partition + loyalty.member-replies

Registrations are few next to events: this agent sends through faust's producer and awaits each write.
"""

from __future__ import annotations

import asyncio
from typing import Any

from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.client import consumer, end_offsets
from loyalty_stream.kafka.keys import join_key, member_partition
from processors.claims import decide
from processors.context import Context
from processors.outputs import customer_registered
from schemas.serde import DecodeError

HOLD_TIMEOUT = 10.0  # how long a command waits for our copy of the members topic to catch up


class Claims:
    def __init__(self, ctx: Context, channels: Any) -> None:
        """``channels``: the faust topics it writes (input, member_events, member_commands, member_replies,
        members, webhooks, dlq)."""
        self.ctx = ctx
        self.ch = channels

    async def __call__(self, stream: Any) -> None:
        await self.ctx.ready()
        async for event in stream.events():
            msg = event.message
            try:
                _name, command = self.ctx.serde.decode(msg.value, expect="MemberCommand")
            except DecodeError as exc:
                await self._dead_letter(msg, exc.reason, str(exc))
                continue
            store = command["storeCode"]
            if msg.key != store.encode():
                # One store's commands must be decided one at a time: move it to the store's partition.
                await self.ch.member_commands.send(key=store.encode(), value=msg.value)
                continue
            await self._claim(command)

    async def _dead_letter(self, msg: Any, reason: str, message: str) -> None:
        batch = self.ctx.batch()
        self.ctx.dead_letter(batch, msg, reason, message)
        await batch.commit()

    async def _catch_up_members(self) -> None:
        """Wait until our copy of the members topic includes every write made before now."""
        loop = asyncio.get_running_loop()
        ctx = self.ctx

        def ends() -> dict[tuple[str, int], int]:
            c = consumer(ctx.settings, group="unused-members-end")
            try:
                return {(ctx.members.topic, p): o for p, o in end_offsets(c, ctx.members.topic).items()}
            finally:
                c.close()

        await ctx.members.mirror.wait_async(await loop.run_in_executor(None, ends), HOLD_TIMEOUT)

    async def _claim(self, command: dict[str, Any]) -> None:
        ctx = self.ctx
        store, customer_id, op = command["storeCode"], command["customerId"], command["op"]
        if store not in ctx.settings.store_map:
            decision = decide({**command, "op": "unknown-store"}, ctx.members.index)
        else:
            await self._catch_up_members()
            decision = decide(command, ctx.members.index)
        where = None
        if decision.accepted:
            if not decision.unchanged:
                value = None if decision.member is None else ctx.serde.encode_for(ctx.topics.members, decision.member)
                written = await self.ch.members.send(key=join_key(store, customer_id), value=value)
                where = await written  # on the members topic before anyone is told
                ctx.members.index.apply(store, customer_id, decision.member)
                if op == "register":
                    message = customer_registered(store, decision.member or {})
                    await self.ch.webhooks.send(
                        key=join_key(store, customer_id), value=ctx.serde.encode_for(ctx.topics.webhooks, message)
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
        await self.ch.member_replies.send(
            key=command["requestId"].encode(), value=ctx.serde.encode_for(ctx.topics.member_replies, reply)
        )

    async def _signal_member(
        self, store: str, customer_id: str, member: dict[str, Any] | None, previous: dict[str, Any] | None
    ) -> None:
        """Tell every input partition (in order with its events) and, on delete, the member's own partition."""
        kind = "member_changed" if member is not None else "member_deleted"
        signal = self.ctx.serde.encode_for(
            self.ctx.topics.custom_events,  # and member_events: both carry signals
            {
                "kind": kind,
                "storeCode": store,
                "customerId": customer_id,
                "member": member or previous,
                "sentAt": iso_utc(),
            },
            "ProcessorSignal",
        )
        for partition in range(self.ctx.topics.custom_events.partitions):
            await self.ch.input.send(value=signal, partition=partition)
        if member is None:
            partitions = self.ctx.topics.member_events.partitions
            await self.ch.member_events.send(
                key=join_key(store, customer_id),
                value=signal,
                partition=member_partition(store, customer_id, partitions),
            )
