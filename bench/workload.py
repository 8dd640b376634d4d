"""A reproducible workload: members, achievements and custom events of two stores (seeded)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from loyalty_stream.kafka.keys import identifier_key, join_key

STORES = ("DEFAULT", "OTHER")
EVENT_TYPES = ("app_login", "workout", "order")
SCHEMAS = {
    "app_login": [],
    "workout": [
        {"name": "minutes", "type": "number", "description": ""},
        {"name": "kind", "type": "text", "description": ""},
    ],
    "order": [
        {"name": "amount", "type": "number", "description": ""},
        {"name": "channel", "type": "text", "description": ""},
    ],
}


def _rule(
    event: str,
    aggregation: dict[str, Any],
    period: dict[str, Any],
    goal: float,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "trigger": "custom_event",
        "type": "direct",
        "event": event,
        "aggregation": aggregation,
        "conditions": conditions or [],
        "completeRule": {"periodGoal": goal, "period": period},
        "translations": {"en": {"name": f"{event} rule"}},
    }


def achievements() -> list[dict[str, Any]]:
    """Ten per store (20 in all): quantity and sum, overall, day and week streaks, conditions, limits."""
    base = [
        _rule("app_login", {"type": "quantity"}, {"type": "last_day", "value": 7}, 1),
        _rule("app_login", {"type": "quantity"}, {"type": "day", "consecutive": 3}, 2),
        _rule(
            "workout",
            {"type": "sum", "rule": "event.body.minutes"},
            {"type": "week", "consecutive": 4},
            300,
            [{"attribute": "event.body.kind", "operator": "is_one_of", "data": ["run", "swim"]}],
        ),
        _rule("workout", {"type": "sum", "rule": "event.body.minutes"}, {"type": "overall"}, 10000),
        _rule("workout", {"type": "quantity"}, {"type": "day", "consecutive": 5}, 1),
        _rule("order", {"type": "quantity"}, {"type": "overall"}, 5),
        _rule(
            "order",
            {"type": "sum", "rule": "event.body.amount"},
            {"type": "month"},
            500,
            [{"attribute": "event.body.channel", "operator": "is_equal", "data": "web"}],
        ),
        _rule("order", {"type": "quantity"}, {"type": "week", "consecutive": 2}, 3),
        _rule(
            "order",
            {"type": "sum", "rule": "event.body.amount"},
            {"type": "overall"},
            2000,
            [{"attribute": "event.body.amount", "operator": "is_greater", "data": 20}],
        ),
        _rule("app_login", {"type": "quantity"}, {"type": "overall"}, 50),
    ]
    out = []
    for n, rule in enumerate(base):
        out.append(
            {
                "active": True,
                "translations": {"en": {"name": f"bench achievement {n}"}},
                "activity": {"operator": "", "data": None},
                "rules": [rule],
                **({"limit": {"value": 1}} if n % 3 == 0 else {}),
            }
        )
    return out


def member_ids(members: int, seed: int) -> list[tuple[str, str, str]]:
    """(store, customerId, email) per member."""
    rng = random.Random(seed)
    return [
        (STORES[i % 2], str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"member{i}@bench.example")
        for i in range(members)
    ]


def events(
    count: int, members: list[tuple[str, str, str]], seed: int, *, days: int = 14, ids: str = "bench"
) -> Iterator[dict[str, Any]]:
    """Custom events (JSON input form) spread over the last ``days`` days (relative to now; everything else
    is fixed by ``seed``). The first ``len(members)`` events touch every member once. ``ids``: the eventIds'
    prefix (two sets of events with different prefixes never share an eventId)."""
    rng = random.Random(seed + 1)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    first_pass = list(range(len(members)))
    rng.shuffle(first_pass)  # every member once (in a seeded order) before any member twice
    for n in range(count):
        store, customer_id, email = members[first_pass[n] if n < len(first_pass) else rng.randrange(len(members))]
        kind = EVENT_TYPES[rng.randrange(3)]
        body: dict[str, Any] = {}
        if kind == "workout":
            body = {"minutes": rng.randint(10, 90), "kind": rng.choice(("run", "swim", "yoga"))}
        elif kind == "order":
            body = {"amount": round(rng.uniform(5, 200), 2), "channel": rng.choice(("web", "store"))}
        when = now - timedelta(seconds=rng.randrange(days * 86400))
        ident = {"customerId": customer_id} if n % 2 else {"email": email}
        yield {
            "storeCode": store,
            "type": kind,
            "eventDate": when.isoformat(),
            "eventId": f"{ids}-{seed}-{n}",
            "customerData": ident,
            "body": body,
        }


def event_key(event: dict[str, Any]) -> bytes:
    """The input-topic key the API would give the event: its first identifier (loyalty_stream/kafka/keys.py)."""
    kind, value = next(iter(event["customerData"].items()))
    return identifier_key(event["storeCode"], kind, value)


def as_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def subscription(store: str, n: int, url: str) -> dict[str, Any]:
    """A MemberAchievementProgressWasChanged webhook subscription (WebhookSubscription record)."""
    return {
        "storeCode": store,
        "subscriptionId": str(uuid.UUID(int=(STORES.index(store) << 32) + n + 1, version=4)),
        "eventName": "MemberAchievementProgressWasChanged",
        "url": url,
        "headers": [{"headerName": "X-Bench", "headerValue": "1"}],
    }


def webhook_messages(
    count: int, members: list[tuple[str, str, str]], seed: int
) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """(key, WebhookMessage record) pairs shaped like the processor's (processors/outputs.py webhook_record)."""
    rng = random.Random(seed + 2)
    created = datetime.now(UTC).isoformat()
    for n in range(count):
        store, customer_id, email = members[rng.randrange(len(members))]
        goal = rng.choice((1, 5, 300))
        rule = {
            "achievementRuleId": f"rule-{n % 10}",
            "periodGoal": goal,
            "currentPeriodValue": rng.randint(0, goal),
            "periodType": "day",
            "consecutivePeriods": 3,
            "completedConsecutivePeriods": rng.randint(0, 3),
            "type": "direct",
            "trigger": "custom_event",
            "translations": {"en": {"name": "bench rule"}},
        }
        data = {
            "member": {"customerId": customer_id, "email": email},
            "achievement": {
                "achievementId": f"00000000-0000-4000-8000-{n % 10:012d}",
                "achievementName": f"bench achievement {n % 10}",
                "limitReached": False,
                "manuallyEdited": False,
                "memberProgress": {"completedCount": 0, "reset": False, "rules": [rule]},
                "previousMemberProgress": {"completedCount": 0, "rules": [rule]},
            },
            "triggerType": "custom_event",
            "trigger": {
                "triggerId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "type": "custom_event",
                "createdAt": created,
                "eventDate": created,
                "eventId": f"bench-webhook-{seed}-{n}",
            },
        }
        record = {
            "messageId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "eventName": "MemberAchievementProgressWasChanged",
            "storeCode": store,
            "createdAt": created,
            "data": json.dumps(data, separators=(",", ":")),
            "customerId": customer_id,
        }
        yield join_key(store, customer_id), record
