"""The campaign's workload: achievements, members and a seeded stream of events per member."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.flows import schema_body

SCHEMAS = [schema_body("app_login", "Login"), schema_body("order", "Order", amount="number", channel="text")]


def _achievement(name: str, rule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "active": True,
        "translations": {"en": {"name": name}},
        "activity": {"operator": "", "data": None},
        "rules": [
            {
                "trigger": "custom_event",
                "type": "direct",
                "translations": {"en": {"name": name}},
                "conditions": [],
                **rule,
            }
        ],
        **extra,
    }


ACHIEVEMENTS = [
    # Open Loyalty's getting-started streak: completes once, then limit reached
    _achievement(
        "login streak",
        {
            "event": "app_login",
            "aggregation": {"type": "quantity"},
            "completeRule": {"periodGoal": 1, "period": {"type": "last_day", "value": 3}},
            "limit": {"value": 1, "interval": {"type": "calendarDays", "value": 1}},
        },
        limit={"value": 2},
    ),
    _achievement(
        "five orders",
        {
            "event": "order",
            "aggregation": {"type": "quantity"},
            "completeRule": {"periodGoal": 5, "period": {"type": "overall"}},
        },
    ),
    _achievement(
        "web spend",
        {
            "event": "order",
            "aggregation": {"type": "sum", "rule": "event.body.amount"},
            "conditions": [{"attribute": "event.body.channel", "operator": "is_equal", "data": "web"}],
            "completeRule": {"periodGoal": 150, "period": {"type": "day", "consecutive": 2}},
        },
    ),
    # transactions: spend on shoes on two consecutive days (a document sent twice counts once)
    _achievement(
        "shoe spend",
        {
            "trigger": "transaction",
            "aggregation": {"rule": "transaction.grossValue"},
            "conditions": [{"attribute": "transaction.items.category", "operator": "is_equal", "data": "shoes"}],
            "completeRule": {"periodGoal": 60, "period": {"type": "day", "consecutive": 2}},
        },
    ),
]


def member_events(rng: random.Random, member: int, count: int, now: datetime) -> list[dict[str, Any]]:
    """One member's inputs in the order they are sent: custom events (the HTTP ``event`` object without
    customerData) and transactions (``{"transaction": …}`` without customerData; some documents twice)."""
    out: list[dict[str, Any]] = []
    for n in range(count):
        when = now - timedelta(days=rng.randrange(6), hours=rng.randrange(20), minutes=rng.randrange(60))
        kind = rng.random()
        if kind < 0.2:
            document = f"m{member}-t{rng.randrange(max(1, n))}" if rng.random() < 0.2 else f"m{member}-t{n}"
            items = [
                {"sku": rng.choice(("A", "B")), "name": "item", "grossValue": rng.choice((15, 30, 60)),
                 "category": rng.choice(("shoes", "hats")), "quantity": 1}
                for _ in range(rng.randrange(1, 3))
            ]  # fmt: skip
            header = {"documentNumber": document, "purchasedAt": when.astimezone(UTC).isoformat()}
            out.append({"transaction": {"header": header, "items": items}})
            continue
        if kind < 0.5:
            event: dict[str, Any] = {"type": "app_login", "body": {}}
        else:
            event = {
                "type": "order",
                "body": {"amount": rng.choice((10, 25, 40, 80)), "channel": rng.choice(("web", "store"))},
            }
        event.update({"eventDate": when.astimezone(UTC).isoformat(), "eventId": f"m{member}-e{n}"})
        out.append(event)
    return out
