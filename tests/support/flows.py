"""Open Loyalty's getting-started flow, as the README walks through it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

AUTH = {"X-AUTH-TOKEN": "dev-key"}


def schema_body(event_type: str, name: str, **fields: str) -> dict[str, Any]:
    """A custom event schema as the API takes it; ``fields`` name → type, each described by its name."""
    declared = [{"name": field, "type": kind, "description": field} for field, kind in fields.items()]
    return {"eventType": event_type, "name": name, "schema": {"fields": declared} if declared else {}}


APP_LOGIN_SCHEMA = {
    "customEventSchema": {
        "eventType": "app_login",
        "schema": {},
        "name": "User Logged In",
        "active": {"isActive": True},
    }
}

# Open Loyalty's getting-started achievement, exactly as its docs show it.
LOGIN_STREAK = {
    "achievement": {
        "active": True,
        "translations": {
            "en": {
                "name": "Maintain a 7-day login streak",
                "description": "Challenge members to achieve milestones within a custom event. This is a "
                "non-transactional achievement that engages customers through gamification elements.",
            }
        },
        "limit": {"value": 1},
        "activity": {"data": None, "operator": ""},
        "rules": [
            {
                "aggregation": {"type": "quantity"},
                "completeRule": {"period": {"type": "last_day", "value": 7}, "periodGoal": 1},
                "conditions": [],
                "event": "app_login",
                "limit": {"interval": {"type": "calendarDays", "value": 1}, "value": 1},
                "trigger": "custom_event",
                "type": "direct",
                "translations": {"en": {"name": "7-day login streak", "description": ""}},
            }
        ],
    }
}

JOHN = {"customer": {"firstName": "John", "lastName": "Smith", "email": "john.smith@example.com"}}


def login_event(
    email: str = "john.smith@example.com", when: datetime | None = None, event_id: str | None = None
) -> dict[str, Any]:
    moment = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
    event: dict[str, Any] = {"type": "app_login", "eventDate": moment, "customerData": {"email": email}}
    if event_id:
        event["eventId"] = event_id
    return {"event": event}


def post(client: httpx.Client, path: str, body: Any, expect: int = 200) -> Any:
    response = client.post(path, json=body, headers=AUTH)
    assert response.status_code == expect, f"{path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def getting_started(client: httpx.Client, webhook_url: str) -> dict[str, Any]:
    """Schema, achievement, member, subscription: the setup before the first event."""
    post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
    achievement = post(client, "/api/DEFAULT/achievement", LOGIN_STREAK)
    member = post(client, "/api/DEFAULT/member", JOHN)
    subscription = post(
        client,
        "/api/DEFAULT/webhook/subscription",
        {
            "webhookSubscription": {
                "eventName": "MemberAchievementProgressWasChanged",
                "url": webhook_url,
                "headers": [{"headerName": "X-Receiver-Key", "headerValue": "secret-1"}],
            }
        },
    )
    return {
        "achievementId": achievement["achievementId"],
        "customerId": member["customerId"],
        "webhookSubscriptionId": subscription["webhookSubscriptionId"],
    }
