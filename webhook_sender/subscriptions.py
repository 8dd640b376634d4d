"""The sender's view of subscriptions: the mirrored topic plus the sender's own not-yet-mirrored changes.

The control plane mirrors ``loyalty.webhook-subscriptions`` continuously, so API changes (new, PUT,
DELETE, re-enable, secret rotation) apply without a restart. When the sender itself disables a
subscription (a 410), it writes the updated record and, until its mirror has read that write back,
treats the subscription as disabled from its own note.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key
from loyalty_stream.replicas.controlplane import ControlPlane
from schemas.serde import Serde
from webhook_sender.producing import AsyncProducer

State = Literal["active", "disabled", "deleted"]


def signing_secrets(snapshot: dict[str, Any], current: dict[str, Any] | None, now_ms: int | None = None) -> list[str]:
    """Every secret a receiver may hold: the fan-out snapshot's, the current one, and during a rotation's
    grace period the previous one. Each gets its own signature in ``webhook-signature``."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    keys = [snapshot.get("secret")]
    if current is not None:
        keys.append(current.get("secret"))
        if current.get("previousSecret") and (current.get("previousSecretExpiresAtMs") or 0) > now_ms:
            keys.append(current["previousSecret"])
    return [k for k in dict.fromkeys(keys) if k]


class SubscriptionView:
    def __init__(self, control: ControlPlane, serde: Serde, producer: AsyncProducer) -> None:
        self._control = control
        self._serde = serde
        self._producer = producer
        self._subscriptions = control.topics.subscriptions
        self._topic = self._subscriptions.name
        self._own: dict[tuple[str, str], tuple[dict[str, Any], int | None]] = {}  # record, offset written

    def get(self, store: str, subscription_id: str) -> tuple[State, dict[str, Any] | None]:
        key = (store, subscription_id)
        own = self._own.get(key)
        if own is not None:
            record, offset = own
            if offset is not None and self._control.mirror.position(self._topic, 0) > offset:
                del self._own[key]  # the mirror has it (and maybe newer changes)
            else:
                return "disabled", record
        record = self._control.subscriptions.get(key)
        if record is None:
            return "deleted", None
        return ("active" if record.get("status", "active") == "active" else "disabled"), record

    def for_event(self, store: str, event_name: str) -> list[dict[str, Any]]:
        """Active subscriptions of a store to an event name: the fan-out snapshot."""
        return [
            s
            for s in self._control.subscriptions_for(store, event_name)
            if self.get(store, s["subscriptionId"])[0] == "active"
        ]

    async def disable(self, store: str, subscription_id: str, reason: str) -> bool:
        """Write the subscription back as disabled (after a 410). False when it is already not active."""
        state, record = self.get(store, subscription_id)
        if state != "active" or record is None:
            return False
        updated = {**record, "status": "disabled", "statusReason": reason, "updatedAt": iso_utc()}
        key = (store, subscription_id)
        self._own[key] = (updated, None)
        _partition, offset = await self._producer.send_acked(
            self._topic, self._serde.encode_for(self._subscriptions, updated), key=join_key(store, subscription_id)
        )
        if self._own.get(key, (None, None))[0] is updated:
            self._own[key] = (updated, offset)
        return True
