"""Member commands over Kafka with an answer: the API sends a MemberCommand keyed by store and waits for the
processor's MemberReply (request/reply), so a 200 means the member's identifiers are claimed.

Every API instance reads every reply (they are few) and picks out its own by requestId.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from confluent_kafka import Message

from ingest_api.errors import BrokerUnavailable
from ingest_api.producer import AckedProducer
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.mirror import TopicMirror
from loyalty_stream.kafka.topics import Topics
from loyalty_stream.replicas.members import MemberDirectory
from schemas.serde import DecodeError, Serde

log = logging.getLogger(__name__)


class MemberCommands:
    def __init__(
        self, settings: Settings, serde: Serde, topics: Topics, producer: AckedProducer, members: MemberDirectory
    ) -> None:
        self._settings = settings
        self._members = members
        self._serde = serde
        self._topics = topics
        self._producer = producer
        self._pending: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future[dict[str, Any]]]] = {}
        # From the end of every partition as it was at start-up, assigned before any request is served, so no
        # reply to a request sent after start-up can slip past; after a broker error it resumes where it was.
        self._replies = TopicMirror(
            settings, [topics.member_replies.name], self._deliver, name="member-replies", from_end=True
        )

    def start(self) -> None:
        self._replies.start()

    def stop(self) -> None:
        self._replies.stop()

    def _deliver(self, msg: Message) -> None:
        try:
            _name, reply = self._serde.decode(msg.value(), expect="MemberReply")
        except DecodeError:
            return
        waiting = self._pending.pop(reply["requestId"], None)
        if waiting is not None:
            loop, future = waiting
            loop.call_soon_threadsafe(lambda: None if future.done() else future.set_result(reply))

    async def send(self, op: str, store: str, customer_id: str, member: dict[str, Any] | None) -> dict[str, Any]:
        """Send a command and wait for its reply; 503 if no answer comes within the deadline."""
        timeout = self._settings.member_command_timeout_seconds
        loop = asyncio.get_running_loop()
        ready = self._replies.assigned
        if not ready.is_set() and not await asyncio.to_thread(ready.wait, timeout):
            raise BrokerUnavailable("member replies are not readable yet")
        request_id = str(uuid.uuid4())
        future: asyncio.Future[dict[str, Any]] = loop.create_future()
        self._pending[request_id] = (loop, future)
        command = {
            "requestId": request_id,
            "op": op,
            "storeCode": store,
            "customerId": customer_id,
            "member": member,
            "sentAt": iso_utc(),
        }
        try:
            await self._producer.send(
                self._topics.member_commands.name,
                self._serde.encode_for(self._topics.member_commands, command),
                key=store.encode(),
            )
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError as exc:
            raise BrokerUnavailable("the processor did not confirm the member change in time") from exc
        finally:
            self._pending.pop(request_id, None)
        if reply["accepted"] and reply.get("membersOffset", -1) >= 0:
            # Read-your-writes: answer once this instance's copy of the members topic has the change.
            where = {(self._topics.members.name, reply["membersPartition"]): reply["membersOffset"] + 1}
            await self._members.mirror.wait_async(where, timeout)
        return reply
