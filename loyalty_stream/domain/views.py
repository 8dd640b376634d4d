"""Read models: the contract's `Achievement` (GET /achievement/{id}) and `MemberAchievement`
(GET /member/{id}/achievement) shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .achievement import Achievement, Limit, Rule
from .member import MemberState
from .numbers import to_json, to_text
from .progress import AchievementProgress
from .webhooks import limit_reached, rule_progress, webhook_translations


def _limit_view(limit: Limit | None) -> dict[str, Any] | None:
    if limit is None:
        return None
    out: dict[str, Any] = {"value": limit.value}
    if limit.interval is not None:
        out["interval"] = {"type": limit.interval.type, "value": limit.interval.value}
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _activity_view(a: Achievement) -> dict[str, Any]:
    # AchievementActivity.data is a string, a {from, to} of strings or a list of strings.
    if a.activity is None:
        return {"operator": ""}
    data = a.activity.data
    if isinstance(data, list):
        shown: Any = [_text(x) for x in data]
    elif isinstance(data, Mapping):
        shown = {k: _text(v) for k, v in data.items() if k in ("from", "to")}
    else:
        shown = _text(data)
    return {"operator": a.activity.operator, "data": shown}


def _translations(names: Mapping[str, Any]) -> dict[str, Any]:
    return {loc: {k: v for k, v in entry.items() if k in ("name", "description")} for loc, entry in names.items()}


def _rule_view(rule: Rule, normal: Mapping[str, Any]) -> dict[str, Any]:
    complete = rule.complete_rule
    period: dict[str, Any] = {"type": rule.period.type, "consecutive": rule.period.consecutive}
    if rule.period.type == "last_day":
        period["value"] = rule.period.value
    complete_view: dict[str, Any] = {"periodGoal": to_text(complete.period_goal), "period": period}
    if complete.unique_attribute is not None:
        complete_view["uniqueAttribute"] = complete.unique_attribute
    out: dict[str, Any] = {
        "achievementRuleId": rule.rule_id,
        "translations": _translations(rule.translations),
        "trigger": rule.trigger,
        "type": rule.type,
        "conditions": [c.to_dict() for c in rule.conditions],
        "aggregation": dict(normal["aggregation"]),
        "completeRule": complete_view,
    }
    if rule.event is not None:
        out["event"] = rule.event
    limit = _limit_view(rule.limit)
    if limit is not None:
        out["limit"] = limit
    if "uniqueReferee" in normal:
        out["uniqueReferee"] = normal["uniqueReferee"]
    return out


def achievement_view(a: Achievement) -> dict[str, Any]:
    """GET /api/{storeCode}/achievement/{id}: periodGoal is a string here, as in the contract."""
    out: dict[str, Any] = {
        "achievementId": a.achievement_id,
        "translations": _translations(a.translations),
        "active": a.active,
        "activity": _activity_view(a),
        "rules": [_rule_view(r, n) for r, n in zip(a.rules, a.definition["rules"], strict=True)],
    }
    limit = _limit_view(a.limit)
    if limit is not None:
        out["limit"] = limit
    return out


def _current(state: MemberState, a: Achievement) -> AchievementProgress:
    stored = state.progress.get(a.achievement_id)
    if stored is None:
        return AchievementProgress.start(a.rules_version, len(a.rules))
    return stored.for_version(a.rules_version, len(a.rules))


def member_achievements_view(
    state: MemberState, achievements: Sequence[Achievement], *, tz: ZoneInfo, now: datetime
) -> list[dict[str, Any]]:
    """GET /member/{id}/achievement items: every active achievement, as of now in store time.

    A streak whose latest goal-reaching period is older than the previous period reads 0;
    limitReached is for the current wall-clock interval.
    """
    local = now.astimezone(tz)
    items = []
    for a in achievements:
        if not a.active:
            continue
        progress = _current(state, a)
        rules = []
        for rule, rp in zip(a.rules, progress.rules, strict=True):
            item = rule_progress(rule, rp, local.date())
            if rule.period.type == "last_day":
                item["periodValue"] = rule.period.value
            rules.append(item)
        items.append(
            {
                "achievementId": a.achievement_id,
                "achievementName": a.name,
                "achievementDescription": a.description,
                "limitReached": limit_reached(a, progress, local),
                "memberProgress": {"completedCount": progress.completed_count, "rules": rules},
            }
        )
    return items


def _strings(data: Any) -> list[str]:
    """Condition data as the webhook schema wants it: a list of strings."""
    if data is None:
        return []
    if isinstance(data, Mapping):
        return [_text_of(data[k]) for k in ("from", "to") if k in data]
    if isinstance(data, list):
        return [_text_of(x) for x in data]
    return [_text_of(data)]


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


def _webhook_rule(rule: Rule, normal: Mapping[str, Any]) -> dict[str, Any]:
    period: dict[str, Any] = {"type": rule.period.type, "consecutive": rule.period.consecutive}
    if rule.period.type == "last_day":
        period["value"] = rule.period.value
    complete: dict[str, Any] = {"periodGoal": to_json(rule.complete_rule.period_goal), "period": period}
    if rule.complete_rule.unique_attribute is not None:
        complete["uniqueAttribute"] = rule.complete_rule.unique_attribute
    out: dict[str, Any] = {
        "achievementRuleId": rule.rule_id,
        "trigger": rule.trigger,
        "type": rule.type,
        "completeRule": complete,
        "conditions": [
            {"attribute": c.attribute, "operator": c.operator, "data": _strings(c.data)} for c in rule.conditions
        ],
        "aggregation": dict(normal["aggregation"]),
        "limit": _limit_view(rule.limit) or {},
        "translations": dict(rule.webhook_translations),
    }
    if rule.event is not None:
        out["event"] = rule.event
    return out


def achievement_webhook_data(a: Achievement) -> dict[str, Any]:
    """`data` of AchievementCreated / AchievementUpdated: `{"achievement": WebhookAchievement}`.

    Unlike GET, periodGoal is a number here (an integer when whole), condition data is a list of
    strings, every rule carries a `limit` (`{}` when none) and translations keep only en and pl.
    """
    out: dict[str, Any] = {
        "achievementId": a.achievement_id,
        "active": a.active,
        "activity": _activity_view(a),
        "translations": webhook_translations(a.translations),
        "rules": [_webhook_rule(r, n) for r, n in zip(a.rules, a.definition["rules"], strict=True)],
    }
    limit = _limit_view(a.limit)
    if limit is not None:
        out["limit"] = limit
    return {"achievement": out}
