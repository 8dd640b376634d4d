"""The `data` of Open Loyalty's achievement webhooks, and progress as the API shows it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from .achievement import Achievement, Rule
from .events import Event, MemberRef
from .numbers import to_json
from .progress import AchievementProgress, RuleProgress
from .streaks import rule_status

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


def rule_progress(rule: Rule, progress: RuleProgress, at: date) -> dict[str, Any]:
    """One item of memberProgress.rules, as of store-local day `at`."""
    status = rule_status(rule, progress, at)
    return {
        "achievementRuleId": rule.rule_id,
        "periodGoal": to_json(rule.complete_rule.period_goal),
        "currentPeriodValue": to_json(status.current_value),
        "periodType": rule.period.type,
        "consecutivePeriods": rule.period.streak,
        "completedConsecutivePeriods": status.streak,
        "type": rule.type,
        "trigger": rule.trigger,
    }


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


def progress_changed_data(
    a: Achievement,
    member: MemberRef,
    event: Event,
    local: datetime,
    before: AchievementProgress,
    after: AchievementProgress,
    reset: bool,
) -> dict[str, Any]:
    """`data` of MemberAchievementProgressWasChanged, as of the trigger's eventDate."""
    day = local.date()
    with_names = [
        item | {"translations": r.webhook_translations}
        for r, item in zip(a.rules, rules_progress(a, after, day), strict=True)
    ]
    previous = [
        item | {"translations": r.webhook_translations}
        for r, item in zip(a.rules, rules_progress(a, before, day), strict=True)
    ]
    return {
        "member": member_view(member),
        "achievement": {
            "achievementId": a.achievement_id,
            "achievementName": a.name,
            "limitReached": limit_reached(a, after, local),
            "manuallyEdited": False,
            "memberProgress": {"completedCount": after.completed_count, "reset": reset, "rules": with_names},
            "previousMemberProgress": {"completedCount": before.completed_count, "rules": previous},
        },
        "triggerType": "custom_event",
        "trigger": {
            "triggerId": event.custom_event_id,
            "type": "custom_event",
            "createdAt": event.created_at.isoformat(),
            "eventDate": local.isoformat(),
            "eventId": event.event_id or event.custom_event_id,
        },
    }
