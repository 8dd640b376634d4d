"""Builders shared by the domain tests: achievements as Open Loyalty request bodies, events,
and a loop that feeds events through process_event."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from loyalty_stream.domain import (
    Achievement,
    Event,
    MemberRef,
    MemberState,
    ProcessResult,
    custom_event_id,
    parse_achievement,
    process_event,
)
from loyalty_stream.domain.events import TRANSACTION_TYPE
from loyalty_stream.domain.ids import transaction_id

STORE = "DEFAULT"
WARSAW = ZoneInfo("Europe/Warsaw")
UTC_TZ = ZoneInfo("UTC")
MEMBER = MemberRef("00000000-0000-4000-8000-000000000001", email="jane@example.com")
_ids = itertools.count(1)


def rule(
    event: str = "order",
    *,
    period: str = "overall",
    goal: Any = 1,
    consecutive: int | None = None,
    value: int | None = None,
    conditions: Sequence[Mapping[str, Any]] = (),
    aggregation: Mapping[str, Any] | None = None,
    limit: Mapping[str, Any] | None = None,
    unique: str | None = None,
    name: str = "rule",
) -> dict[str, Any]:
    period_body: dict[str, Any] = {"type": period}
    if consecutive is not None:
        period_body["consecutive"] = consecutive
    if value is not None:
        period_body["value"] = value
    complete: dict[str, Any] = {"periodGoal": goal, "period": period_body}
    if unique is not None:
        complete["uniqueAttribute"] = unique
    body: dict[str, Any] = {
        "trigger": "custom_event",
        "type": "direct",
        "event": event,
        "conditions": list(conditions),
        "completeRule": complete,
        "translations": {"en": {"name": name}},
    }
    if aggregation is not None:
        body["aggregation"] = dict(aggregation)
    if limit is not None:
        body["limit"] = dict(limit)
    return body


def tx_rule(**kw: Any) -> dict[str, Any]:
    """A rule with a transaction trigger (``rule``'s options, no event)."""
    body = rule("unused", **kw)
    body["trigger"] = "transaction"
    del body["event"]
    return body


def transaction_event(when: datetime, facts: Mapping[str, Any], document: str | None = None) -> Event:
    """A transaction as the core sees it: an event of TRANSACTION_TYPE whose body is its facts."""
    number = document or f"DOC-{next(_ids)}"
    return Event(transaction_id(STORE, number), None, TRANSACTION_TYPE, when, {"documentNumber": number, **facts}, when)


def workout_rule(kinds: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A weekly streak of 4 weeks of 300 workout minutes, counting the workouts whose kind passes ``kinds``
    (an operator and its data)."""
    condition = {"attribute": "event.body.kind", **kinds}
    fields: dict[str, Any] = {"period": "week", "consecutive": 4, "goal": 300, "conditions": [condition]}
    return rule("workout", aggregation={"type": "sum", "rule": "event.body.minutes"}, **{**fields, **overrides})


def achievement_body(
    *rules: Mapping[str, Any],
    name: str = "Achievement",
    active: bool = True,
    limit: Mapping[str, Any] | None = None,
    activity: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "translations": {"en": {"name": name, "description": "test"}},
        "active": active,
        "activity": dict(activity) if activity is not None else {"operator": "", "data": None},
        "rules": [dict(r) for r in rules],
    }
    if limit is not None:
        body["limit"] = dict(limit)
    return body


def make(*rules: Mapping[str, Any], achievement_id: str | None = None, version: int = 1, **kw: Any) -> Achievement:
    aid = achievement_id or f"00000000-0000-4000-a000-{next(_ids):012d}"
    return parse_achievement(
        achievement_body(*rules, **kw), achievement_id=aid, store_code=STORE, rules_version=version
    )


def event(
    type_: str,
    when: datetime,
    body: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    *,
    anonymous: bool = False,
) -> Event:
    """An event with the client's eventId (made up unless given), or none when `anonymous`."""
    eid = event_id or f"e-{next(_ids)}"
    return Event(custom_event_id(STORE, eid), None if anonymous else eid, type_, when, dict(body or {}), when)


def at(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)  # type: ignore[misc]


def feed(
    events: Iterable[Event],
    achievements: Sequence[Achievement],
    *,
    state: MemberState | None = None,
    tz: ZoneInfo = UTC_TZ,
    member: MemberRef = MEMBER,
) -> tuple[MemberState, list[ProcessResult]]:
    state = state or MemberState.empty()
    results = []
    for e in events:
        r = process_event(
            state,
            e,
            achievements,
            member,
            store_code=STORE,
            tz=tz,
            now=max(e.event_date, datetime(2000, 1, 1, tzinfo=UTC)),
        )
        state = r.state
        results.append(r)
    return state, results


def progress_of(result: ProcessResult, achievement: Achievement) -> dict[str, Any]:
    """The memberProgress of the achievement's progress webhook in a result."""
    for o in result.outputs:
        if o.achievement_id == achievement.achievement_id:
            return dict(o.data["achievement"]["memberProgress"])
    raise AssertionError(f"no progress output for {achievement.achievement_id}: {result.outcome}")


def rules_of(result: ProcessResult, achievement: Achievement) -> list[dict[str, Any]]:
    return list(progress_of(result, achievement)["rules"])
