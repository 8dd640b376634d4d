"""What processing one event answers: its outcome and the webhook messages it produced."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

REASONS: Final = (
    "conditions_not_met",
    "outside_activity_window",
    "frequency_limit",
    "achievement_limit_reached",
    "member_inactive",
    "no_achievement_listens",
    "too_old",
    "unique_attribute_repeated",
    "achievement_inactive",
    "aggregation_value_invalid",
    "return_not_counted",
)

PROGRESS_CHANGED: Final = "MemberAchievementProgressWasChanged"
ACHIEVEMENTS_PROCESSED: Final = "AchievementsWereProcessed"


@dataclass(frozen=True, slots=True, init=False)
class Outcome:
    status: Literal["counted", "no_effect"]
    reason: str | None  # None when counted; else one of REASONS
    reasons: Mapping[str, str]  # achievement_id → reason, for listening achievements unchanged
    changed: tuple[str, ...]  # achievement ids whose progress changed

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        status: Literal["counted", "no_effect"],
        reason: str | None,
        reasons: Mapping[str, str],
        changed: tuple[str, ...],
    ) -> None:
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "reasons", reasons)
        object.__setattr__(self, "changed", changed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"s": self.status}
        if self.reason is not None:
            out["r"] = self.reason
        if self.reasons:
            out["rs"] = dict(self.reasons)
        if self.changed:
            out["c"] = list(self.changed)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Outcome:
        return cls(raw["s"], raw.get("r"), dict(raw.get("rs", {})), tuple(raw.get("c", ())))


@dataclass(frozen=True, slots=True, init=False)
class WebhookOutput:
    """One outgoing message; it goes to the webhook topic and the progress topic."""

    message_id: str
    event_name: str  # PROGRESS_CHANGED | ACHIEVEMENTS_PROCESSED
    store_code: str
    customer_id: str
    created_at: str  # ISO-8601 UTC, when the event was first applied (stable on resend)
    achievement_id: str | None  # None for AchievementsWereProcessed
    data: Any  # the envelope's `data`, as the contract's webhooks section has it

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        message_id: str,
        event_name: str,
        store_code: str,
        customer_id: str,
        created_at: str,
        achievement_id: str | None,
        data: Any,
    ) -> None:
        object.__setattr__(self, "message_id", message_id)
        object.__setattr__(self, "event_name", event_name)
        object.__setattr__(self, "store_code", store_code)
        object.__setattr__(self, "customer_id", customer_id)
        object.__setattr__(self, "created_at", created_at)
        object.__setattr__(self, "achievement_id", achievement_id)
        object.__setattr__(self, "data", data)

    def envelope(self) -> dict[str, Any]:
        """Open Loyalty's webhook body, without `requestId` (new per delivery attempt)."""
        return {
            "messageId": self.message_id,
            "eventName": self.event_name,
            "storeCode": self.store_code,
            "createdAt": self.created_at,
            "data": self.data,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "m": self.message_id,
            "e": self.event_name,
            "s": self.store_code,
            "u": self.customer_id,
            "t": self.created_at,
            "a": self.achievement_id,
            "d": self.data,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> WebhookOutput:
        return cls(raw["m"], raw["e"], raw["s"], raw["u"], raw["t"], raw.get("a"), raw["d"])
