"""The records a progress change becomes on the progress and webhook topics."""

from __future__ import annotations

from typing import Any

import orjson

from loyalty_stream.domain import WebhookOutput


def webhook_record(output: WebhookOutput) -> dict[str, Any]:
    return {
        "messageId": output.message_id,
        "eventName": output.event_name,
        "storeCode": output.store_code,
        "createdAt": output.created_at,
        "data": orjson.dumps(output.data).decode(),
        "customerId": output.customer_id,
    }


def progress_record(output: WebhookOutput) -> dict[str, Any]:
    data = output.data
    achievement = data["achievement"]
    progress = achievement["memberProgress"]
    trigger = data.get("trigger", {})
    return {
        "messageId": output.message_id,
        "storeCode": output.store_code,
        "customerId": output.customer_id,
        "achievementId": achievement["achievementId"],
        "achievementName": achievement.get("achievementName", ""),
        "triggerId": trigger.get("triggerId", ""),
        "eventId": trigger.get("eventId"),
        "eventDate": trigger.get("eventDate"),
        "createdAt": output.created_at,
        "completedCount": progress.get("completedCount", 0),
        "limitReached": achievement.get("limitReached", False),
        "reset": progress.get("reset", False),
        "rules": [
            {
                "achievementRuleId": rule.get("achievementRuleId", ""),
                "periodType": rule.get("periodType", ""),
                "periodGoal": float(rule.get("periodGoal", 0)),
                "currentPeriodValue": float(rule.get("currentPeriodValue", 0)),
                "consecutivePeriods": rule.get("consecutivePeriods"),
                "completedConsecutivePeriods": rule.get("completedConsecutivePeriods", 0),
            }
            for rule in progress.get("rules", [])
        ],
        "payload": orjson.dumps(data).decode(),
    }
