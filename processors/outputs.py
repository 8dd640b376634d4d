"""The records a progress change becomes on the progress and webhook topics."""

from __future__ import annotations

from typing import Any

import orjson

from loyalty_stream.domain import WebhookOutput, message_id


def webhook_record(output: WebhookOutput, data: str | bytes, *, subscriptions_offset: int = 0) -> dict[str, Any]:
    """``data``: the output's data as JSON (made once for this and the progress record).
    ``subscriptions_offset``: how far the writer had read the subscriptions topic; the sender fans out only
    once its own copy is that far, so a subscription made just before the event is not missed."""
    return {
        "subscriptionsOffset": subscriptions_offset,
        "messageId": output.message_id,
        "eventName": output.event_name,
        "storeCode": output.store_code,
        "createdAt": output.created_at,
        "data": data,
        "customerId": output.customer_id,
    }


def progress_record(output: WebhookOutput, payload: str | bytes) -> dict[str, Any]:
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
        "payload": payload,
    }


def outcome_record(
    record: dict[str, Any],
    status: str,
    *,
    decided_at: str,
    reason: str | None = None,
    reasons: dict[str, str] | None = None,
    changed: list[str] | None = None,
    customer_id: str | None = None,
) -> dict[str, Any]:
    """The CustomEventOutcome of an event: what became of it and why (docs/domain.md §0)."""
    customer = record.get("customerData") or {}
    return {
        "storeCode": record["storeCode"],
        "customEventId": record["customEventId"],
        "eventId": record.get("eventId"),
        "type": record["type"],
        "eventDate": record["eventDate"],
        "createdAt": record.get("createdAt"),
        "customerData": {k: customer.get(k) for k in ("customerId", "email", "phone", "loyaltyCardNumber")},
        "customerId": customer_id,
        "body": record.get("body") or "{}",
        "status": status,
        "reason": reason,
        "reasons": reasons or {},
        "changedAchievements": changed or [],
        "decidedAt": decided_at,
    }


_REGISTERED_FIELDS = ("firstName", "lastName", "email", "phone", "loyaltyCardNumber", "registeredAt")


def customer_registered(store: str, member: dict[str, Any]) -> dict[str, Any]:
    """Open Loyalty's CustomerRegistered webhook message; its messageId repeats on re-delivery."""
    attributes = orjson.loads(member.get("attributes") or "{}")
    data = {
        "customerId": member["customerId"],
        "customerData": {
            **{
                k: v
                for k, v in attributes.items()
                if k in ("birthDate", "gender", "agreement1", "agreement2", "agreement3", "address", "company")
            },
            **{k: member[k] for k in _REGISTERED_FIELDS if member.get(k) is not None},
        },
    }
    return {
        "messageId": message_id(store, member["customerId"], "CustomerRegistered", member["customerId"], 0),
        "eventName": "CustomerRegistered",
        "storeCode": store,
        "createdAt": member.get("registeredAt") or member.get("updatedAt") or "",
        "data": orjson.dumps(data).decode(),
        "customerId": member["customerId"],
    }


def transaction_webhook(store: str, event_name: str, transaction_id: str, customer_id: str | None, data: Any,
                        created_at: str) -> dict[str, Any]:  # fmt: skip
    """A TransactionRegistered or TransactionAssignedToCustomer webhook message; its messageId repeats on
    re-delivery (and for the same document sent again: the same transaction)."""
    return {
        "messageId": message_id(store, transaction_id, event_name, customer_id or "", 0),
        "eventName": event_name,
        "storeCode": store,
        "createdAt": created_at,
        "data": orjson.dumps(data).decode(),
        "customerId": customer_id,
    }
