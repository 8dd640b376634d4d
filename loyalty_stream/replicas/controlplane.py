"""The control plane every process keeps in memory: schemas, achievements, webhook subscriptions.

Each lives on a one-partition compacted topic keyed ``storeCode:id``; a single partition gives each
topic one total order, so "the API's write at offset N" is a single number to wait for.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.keys import split_key
from loyalty_stream.kafka.mirror import TopicMirror
from loyalty_stream.kafka.topics import Topics, build_topics
from schemas.serde import DecodeError, Serde

log = logging.getLogger(__name__)


@dataclass
class ControlPlane:
    """In-memory copies of the control-plane topics, kept current by one consumer thread."""

    settings: Settings
    serde: Serde
    topics: Topics = field(init=False)
    schemas: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    achievements: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    version: int = 0  # bumped on every change, for caches derived from these dicts
    _subscribed: set[tuple[str, str]] = field(default_factory=set)
    _subscribed_version: int = -1
    _mirror: TopicMirror = field(init=False)

    def __post_init__(self) -> None:
        self.topics = build_topics(self.settings)
        self._tables = {
            self.topics.schemas.name: (self.schemas, "CustomEventSchema"),
            self.topics.achievements.name: (self.achievements, "Achievement"),
            self.topics.subscriptions.name: (self.subscriptions, "WebhookSubscription"),
        }
        self._mirror = TopicMirror(self.settings, self._tables, self._apply, name="control-plane")

    @property
    def mirror(self) -> TopicMirror:
        return self._mirror

    def start(self) -> None:
        self._mirror.start()

    def stop(self) -> None:
        self._mirror.stop()

    def _apply(self, msg: Message) -> None:
        topic, key, value = msg.topic(), msg.key(), msg.value()
        table, record_type = self._tables[topic]
        parts = split_key(key)
        if parts is None:
            log.warning("control plane: %s record without storeCode:id key ignored", topic)
            return
        if value is None:
            table.pop(parts, None)
        else:
            try:
                _name, record = self.serde.decode(value, expect=record_type)
            except DecodeError as exc:
                log.warning("control plane: undecodable %s record %s: %s", topic, parts, exc)
                return
            table[parts] = record
        self.version += 1

    # -- queries ------------------------------------------------------------------------------
    def store_items(self, table: dict[tuple[str, str], dict[str, Any]], store: str) -> list[dict[str, Any]]:
        return [record for (s, _), record in table.items() if s == store]

    def subscriptions_for(self, store: str, event_name: str) -> list[dict[str, Any]]:
        return [
            s
            for (code, _), s in list(self.subscriptions.items())
            if code == store and s["eventName"] == event_name and s.get("status", "active") == "active"
        ]

    def has_subscription(self, store: str, event_name: str) -> bool:
        """Whether any active subscription wants this event name (cached until the control plane changes)."""
        if self._subscribed_version != self.version:
            self._subscribed = {
                (code, s["eventName"])
                for (code, _), s in list(self.subscriptions.items())
                if s.get("status", "active") == "active"
            }
            self._subscribed_version = self.version
        return (store, event_name) in self._subscribed

    def offsets_of(self, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
        return {(t, 0): self._mirror.position(t, 0) for t in topic_names}
