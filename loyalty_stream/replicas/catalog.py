"""The store's achievements as parsed domain objects, rebuilt when the control plane changes.

Shared by the processor (rules to evaluate) and the API (GET views, member progress)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from loyalty_stream.domain import Achievement, AchievementInvalid, parse_achievement
from loyalty_stream.replicas.controlplane import ControlPlane

log = logging.getLogger(__name__)


def parse_record(store: str, achievement_id: str, record: dict[str, Any]) -> Achievement | None:
    try:
        return parse_achievement(
            orjson.loads(record["definition"]),
            achievement_id=achievement_id,
            store_code=store,
            rules_version=record["rulesVersion"],
        )
    except AchievementInvalid as exc:
        log.warning("achievement %s/%s cannot be parsed: %s", store, achievement_id, exc.errors)
        return None


class AchievementCatalog:
    def __init__(self, control: ControlPlane) -> None:
        self._control = control
        self._version = -1
        self._parsed: dict[tuple[str, str], tuple[tuple[int, str], Achievement | None]] = {}
        self._by_store: dict[str, list[Achievement]] = {}
        self._by_type: dict[tuple[str, str], list[Achievement]] = {}

    def _refresh(self) -> None:
        if self._version == self._control.version:
            return
        self._version = self._control.version
        parsed: dict[tuple[str, str], tuple[tuple[int, str], Achievement | None]] = {}
        by_store: dict[str, list[Achievement]] = {}
        for key, record in list(self._control.achievements.items()):
            marker = (record["rulesVersion"], record["definition"])
            cached = self._parsed.get(key)
            achievement = cached[1] if cached and cached[0] == marker else parse_record(*key, record)
            parsed[key] = (marker, achievement)
            if achievement is not None:
                by_store.setdefault(key[0], []).append(achievement)
        self._parsed, self._by_store, self._by_type = parsed, by_store, {}

    def for_store(self, store: str) -> list[Achievement]:
        self._refresh()
        return self._by_store.get(store, [])

    def listening(self, store: str, event_type: str) -> list[Achievement]:
        """The store's achievements with a rule listening to ``event_type`` (indexed: looked up per event)."""
        self._refresh()
        found = self._by_type.get((store, event_type))
        if found is None:
            found = self._by_type[(store, event_type)] = [
                a for a in self._by_store.get(store, []) if event_type in a.event_types
            ]
        return found

    def get(self, store: str, achievement_id: str) -> Achievement | None:
        self._refresh()
        entry = self._parsed.get((store, achievement_id))
        return entry[1] if entry else None
