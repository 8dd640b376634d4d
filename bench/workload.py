"""A reproducible workload: members, achievements and custom events of two stores (seeded)."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

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


def events(count: int, members: list[tuple[str, str, str]], seed: int, *, days: int = 14) -> Iterator[dict[str, Any]]:
    """Custom events (JSON input form) spread over the last ``days`` days."""
    rng = random.Random(seed + 1)
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    for n in range(count):
        store, customer_id, email = members[rng.randrange(len(members))]
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
            "eventId": f"bench-{seed}-{n}",
            "customerData": ident,
            "body": body,
        }


def as_json(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
