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
    _active: dict[tuple[str, str], tuple[dict[str, Any], ...]] = field(default_factory=dict)
    _active_version: int = -1
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

    def _active_by_event(self) -> dict[tuple[str, str], tuple[dict[str, Any], ...]]:
        """Active subscriptions by (store, event name), rebuilt when the control plane changes. The sender asks
        for every message it fans out and the processor for every output, so a lookup is one dict get instead
        of a scan of every subscription (the scan showed as 15 % of the sender's samples with one subscription,
        2026-12-06: most likely collections falling on its allocations; docs/benchmarks.md)."""
        version = self.version  # read before building: a change meanwhile makes the next call build again
        if self._active_version != version:
            index: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for (code, _), s in list(self.subscriptions.items()):
                if s.get("status", "active") == "active":
                    index.setdefault((code, s["eventName"]), []).append(s)
            self._active = {key: tuple(found) for key, found in index.items()}
            self._active_version = version
        return self._active

    def subscriptions_for(self, store: str, event_name: str) -> list[dict[str, Any]]:
        return list(self._active_by_event().get((store, event_name), ()))

    def has_subscription(self, store: str, event_name: str) -> bool:
        """Whether any active subscription wants this event name."""
        return (store, event_name) in self._active_by_event()

    def offsets_of(self, topic_names: Iterable[str]) -> dict[tuple[str, int], int]:
        return {(t, 0): self._mirror.position(t, 0) for t in topic_names}
