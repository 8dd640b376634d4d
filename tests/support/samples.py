"""Sample records shared by the unit tests."""

from __future__ import annotations

from typing import Any

WEBHOOK_MESSAGE: dict[str, Any] = {
    "messageId": "0253846e-3cc2-5ce5-956b-e3f875b4877d",
    "eventName": "AchievementCreated",
    "storeCode": "DEFAULT",
    "createdAt": "2024-05-01T00:00:00.000Z",
    "data": '{"a": 1}',
}
