"""The `data` of Open Loyalty's achievement webhooks, and progress as the API shows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from .achievement import Achievement, Rule
from .events import TRANSACTION_TYPE, Event, MemberRef
from .numbers import to_json
from .progress import AchievementProgress, RuleProgress
from .streaks import RuleStatus, rule_status

_LOCALES = ("en", "pl")  # the webhook Translations schema allows only these, name required


def webhook_translations(names: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for locale in _LOCALES:
        entry = names.get(locale)
        if isinstance(entry, Mapping):
            out[locale] = {k: entry[k] for k in ("name", "description") if k in entry}
            out[locale].setdefault("name", "")
    out.setdefault("en", {"name": ""})
    return out


def rule_item(rule: Rule, status: RuleStatus, translations: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One item of memberProgress.rules for a rule's status; webhooks also carry the rule's names."""
    item: dict[str, Any] = {
        "achievementRuleId": rule.rule_id,
        "periodGoal": rule.goal_json,
        "currentPeriodValue": to_json(status.current_value),
        "periodType": rule.period.type,
        "consecutivePeriods": rule.period.streak,
        "completedConsecutivePeriods": status.streak,
        "type": rule.type,
        "trigger": rule.trigger,
    }
    if translations is not None:
        item["translations"] = translations
    return item


def rule_progress(rule: Rule, progress: RuleProgress, at: date) -> dict[str, Any]:
    """One item of memberProgress.rules, as of store-local day `at`."""
    return rule_item(rule, rule_status(rule, progress, at))


def rules_progress(a: Achievement, progress: AchievementProgress, at: date) -> list[dict[str, Any]]:
    return [rule_progress(r, p, at) for r, p in zip(a.rules, progress.rules, strict=True)]


def limit_reached(a: Achievement, progress: AchievementProgress, at: datetime) -> bool:
    """Whether the completion limit is used up for the interval holding local time `at`."""
    if a.limit is None:
        return False
    if a.limit.interval is None:
        return progress.completed_count >= a.limit.value
    count = progress.completions.get(a.limit.key(at))
    return count is None or count >= a.limit.value


def member_view(member: MemberRef) -> dict[str, Any]:
    fields = {
        "customerId": member.customer_id,
        "email": member.email,
        "phone": member.phone,
        "loyaltyCardNumber": member.loyalty_card_number,
    }
    return {k: v for k, v in fields.items() if v is not None}


@dataclass(frozen=True, slots=True, init=False)
class Trigger:
    """The parts of a progress webhook that are the same for every achievement one event changed: built once
    per event and shared by its outputs (treat them as read-only)."""

    member: dict[str, Any]
    trigger: dict[str, Any]

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, member: dict[str, Any], trigger: dict[str, Any]) -> None:
        object.__setattr__(self, "member", member)
        object.__setattr__(self, "trigger", trigger)

    @classmethod
    def of(cls, member: MemberRef, event: Event, local: datetime) -> Trigger:
        if event.type == TRANSACTION_TYPE:
            return cls(
                member_view(member),
                {
                    "triggerId": event.custom_event_id,
                    "type": "transaction",
                    "createdAt": event.created_at.isoformat(),
                    "purchasedAt": local.isoformat(),
                    "documentNumber": event.body.get("documentNumber"),
                },
            )
        return cls(
            member_view(member),
            {
                "triggerId": event.custom_event_id,
                "type": "custom_event",
                "createdAt": event.created_at.isoformat(),
                "eventDate": local.isoformat(),
                "eventId": event.event_id or event.custom_event_id,
            },
        )


def progress_changed_data(
    a: Achievement,
    trigger: Trigger,
    local: datetime,
    before: AchievementProgress,
    after: AchievementProgress,
    reset: bool,
    *,
    statuses: Sequence[RuleStatus] | None = None,
    previous: Sequence[RuleStatus] | None = None,
) -> dict[str, Any]:
    """`data` of MemberAchievementProgressWasChanged, as of the trigger's eventDate. ``statuses`` and
    ``previous``: each rule's status after and before on that day, when the caller has them already."""
    day = local.date()
    if statuses is None:
        statuses = [rule_status(r, p, day) for r, p in zip(a.rules, after.rules, strict=True)]
    if previous is None:
        previous = [rule_status(r, p, day) for r, p in zip(a.rules, before.rules, strict=True)]
    return {
        "member": trigger.member,
        "achievement": {
            "achievementId": a.achievement_id,
            "achievementName": a.name,
            "limitReached": limit_reached(a, after, local),
            "manuallyEdited": False,
            "memberProgress": {
                "completedCount": after.completed_count,
                "reset": reset,
                "rules": [rule_item(r, st, r.webhook_translations) for r, st in zip(a.rules, statuses, strict=True)],
            },
            "previousMemberProgress": {
                "completedCount": before.completed_count,
                "rules": [rule_item(r, st, r.webhook_translations) for r, st in zip(a.rules, previous, strict=True)],
            },
        },
        "triggerType": "custom_event",
        "trigger": trigger.trigger,
    }
