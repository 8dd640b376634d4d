"""The member identifier index: normalised identifier → customerId, per store (docs/domain.md §2, §4).

Fed from the members topic (Member records and tombstones). Plain Python; each process that
resolves members keeps one, filled by a ``TopicMirror``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.identity import IDENTIFIERS, identifiers_of, index_key
from loyalty_stream.kafka.mirror import TopicMirror, keyed_record
from loyalty_stream.kafka.topics import build_topics
from schemas.serde import Serde

log = logging.getLogger(__name__)

MEMBER_IDENTIFIERS = ("loyaltyCardNumber", "email", "phone")


@dataclass(frozen=True, slots=True)
class Resolution:
    customer_id: str | None
    ambiguous: bool = False
    matched: tuple[tuple[str, str], ...] = ()  # (kind, normalised value) that resolved


class MemberIndex:
    def __init__(self) -> None:
        self.members: dict[tuple[str, str], dict[str, Any]] = {}
        self._ids: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.members)

    def get(self, store: str, customer_id: str) -> dict[str, Any] | None:
        return self.members.get((store, customer_id))

    def apply(self, store: str, customer_id: str, record: Mapping[str, Any] | None) -> None:
        """Upsert a member (or delete it with ``None``), moving its identifiers.

        A record older (lower ``version``) than the one held is ignored: the processor applies its own
        writes before its copy of the members topic reads them back. The same record again changes nothing.
        """
        current = self.members.get((store, customer_id))
        if record is not None and current is not None:
            if record.get("version", 0) < current.get("version", 0):
                return
            if record == current:
                return  # the same record again (each input partition's signal carries it): nothing moves
        old = self.members.pop((store, customer_id), None)
        if old is not None:
            for kind, value in identifiers_of(old, MEMBER_IDENTIFIERS):
                key = index_key(store, kind, value)
                if self._ids.get(key) == customer_id:
                    del self._ids[key]
        if record is None:
            return
        self.members[(store, customer_id)] = dict(record)
        if record.get("active", True):
            for kind, value in identifiers_of(record, MEMBER_IDENTIFIERS):
                self._ids.setdefault(index_key(store, kind, value), customer_id)

    def owner(self, store: str, kind: str, normalised: str) -> str | None:
        if kind == "customerId":
            return normalised if (store, normalised) in self.members else None
        return self._ids.get(index_key(store, kind, normalised))

    def conflicts(self, store: str, customer_id: str, data: Mapping[str, Any]) -> list[str]:
        """Identifiers in ``data`` that another active member of the store already holds."""
        return [
            kind
            for kind, value in identifiers_of(data, MEMBER_IDENTIFIERS)
            if (owner := self.owner(store, kind, value)) is not None and owner != customer_id
        ]

    def resolve(self, store: str, customer_data: Mapping[str, Any], order: Sequence[str] = IDENTIFIERS) -> Resolution:
        """The first identifier (in the store's order) that resolves wins; two members → ambiguous."""
        found: dict[str, list[tuple[str, str]]] = {}
        first: str | None = None
        for kind, value in identifiers_of(customer_data, order):
            owner = self.owner(store, kind, value)
            if owner is None:
                continue
            first = first or owner
            found.setdefault(owner, []).append((kind, value))
        if len(found) > 1:
            return Resolution(None, ambiguous=True)
        return Resolution(first, matched=tuple(found.get(first, [])) if first else ())


class MemberDirectory:
    """A ``MemberIndex`` kept current from the members topic by a ``TopicMirror``."""

    def __init__(self, settings: Settings, serde: Serde, *, name: str = "members") -> None:
        self.index = MemberIndex()
        self._serde = serde
        self.topic = build_topics(settings).members.name
        self.mirror = TopicMirror(settings, [self.topic], self._apply, name=name)

    def _apply(self, msg: Message) -> None:
        keyed = keyed_record(self._serde, msg.key(), msg.value(), "Member")
        if keyed is not None:
            (store, customer_id), record = keyed
            self.index.apply(store, customer_id, record)

    def start(self) -> None:
        self.mirror.start()

    def stop(self) -> None:
        self.mirror.stop()
