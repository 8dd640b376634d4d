"""parse_achievement: CreateAchievementFormType → Achievement, with every faulty field reported.

Lenient where Open Loyalty's own documented examples are (periodGoal as int, float or numeric
string; activity `{"operator": "", "data": null}` or missing = always on; missing aggregation =
quantity), strict elsewhere: an unknown operator, period or interval is an error, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

from .achievement import (
    Achievement,
    CompleteRule,
    Period,
    Rule,
)
from .calendar import PERIOD_TYPES, PeriodType
from .errors import AchievementInvalid, FieldError
from .form_fields import (
    Report,
    read_activity,
    read_aggregation,
    read_conditions,
    read_count,
    read_limit,
    read_translations,
    read_unique,
)
from .ids import rule_id
from .numbers import Number, numeric, to_json
from .webhooks import webhook_translations

MAX_RULES: Final = 6
MAX_STREAK: Final = 1000  # bounds the buckets kept per rule (C+1 or N)


def _complete_rule(raw: Any, path: str, report: Report, trigger: str) -> tuple[CompleteRule, dict[str, Any]]:
    fallback = CompleteRule(1, Period("overall"))
    if not isinstance(raw, Mapping):
        report.add(path, "is required")
        return fallback, {}
    goal_raw = raw.get("periodGoal")
    goal: Number | None = None if isinstance(goal_raw, bool) else numeric(goal_raw)
    if goal is None or goal <= 0:
        report.add(f"{path}.periodGoal", "must be a number greater than 0")
        goal = 1
    period_raw = raw.get("period")
    if not isinstance(period_raw, Mapping) or period_raw.get("type") not in PERIOD_TYPES:
        report.add(f"{path}.period.type", f"must be one of {', '.join(PERIOD_TYPES)}")
        period = Period("overall")
    else:
        kind = cast(PeriodType, period_raw["type"])
        consecutive = (
            read_count(period_raw.get("consecutive"), f"{path}.period.consecutive", report, default=1, top=MAX_STREAK)
            or 1
        )
        days = 1
        if kind == "last_day":
            days = read_count(period_raw.get("value"), f"{path}.period.value", report, top=MAX_STREAK) or 1
        period = Period(kind, consecutive if kind not in ("overall", "last_day") else 1, days)
    unique, unique_path = read_unique(raw.get("uniqueAttribute"), f"{path}.uniqueAttribute", report, trigger)
    period_def: dict[str, Any] = {"type": period.type, "consecutive": period.consecutive}
    if period.type == "last_day":
        period_def["value"] = period.value
    normal: dict[str, Any] = {"periodGoal": to_json(goal), "period": period_def}
    if unique is not None:
        normal["uniqueAttribute"] = unique
    return CompleteRule(goal, period, unique, unique_path), normal


def _rule(
    raw: Any, path: str, index: int, achievement_id: str, version: int, report: Report
) -> tuple[Rule | None, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object")
        return None, {}
    errors_before = len(report.errors)
    trigger, kind, event = raw.get("trigger"), raw.get("type"), raw.get("event")
    if trigger not in ("custom_event", "transaction"):
        report.add(f"{path}.trigger", "must be custom_event or transaction")
    if kind not in ("direct", "referral"):
        report.add(f"{path}.type", "must be direct or referral")
    if trigger == "custom_event" and (not isinstance(event, str) or not event):
        report.add(f"{path}.event", "is required for a custom_event trigger")
    elif event is not None and not isinstance(event, str):
        report.add(f"{path}.event", "must be a string")
    reads = "transaction" if trigger == "transaction" else "custom_event"  # whose attributes its parts name
    conditions = read_conditions(raw.get("conditions"), f"{path}.conditions", report, reads)
    aggregation = read_aggregation(raw.get("aggregation"), f"{path}.aggregation", report, reads)
    complete, complete_def = _complete_rule(raw.get("completeRule"), f"{path}.completeRule", report, reads)
    if reads == "transaction":
        event = None  # a transaction rule listens to transactions, whatever event it names
    limit, limit_def = read_limit(raw.get("limit"), f"{path}.limit", report)
    names = read_translations(raw.get("translations"), f"{path}.translations", report, name_required=False)
    normal: dict[str, Any] = {
        "trigger": trigger,
        "type": kind,
        "event": event,
        "conditions": [c.to_dict() for c in conditions],
        "aggregation": {"type": aggregation.type} | ({"rule": aggregation.rule} if aggregation.rule else {}),
        "completeRule": complete_def,
        "limit": limit_def,
        "translations": names,
    }
    if isinstance(raw.get("uniqueReferee"), bool):
        normal["uniqueReferee"] = raw["uniqueReferee"]
    if len(report.errors) > errors_before:
        # Not built: the achievement is refused anyway, and a compiled Rule checks its fields' types.
        return None, normal
    rule = Rule(
        rule_id(achievement_id, version, index),
        cast(Any, trigger),
        cast(Any, kind),
        event if isinstance(event, str) else None,
        conditions,
        aggregation,
        complete,
        limit,
        names,
        webhook_translations(names),
    )
    return rule, normal


def parse_achievement(
    body: Mapping[str, Any], *, achievement_id: str, store_code: str, rules_version: int = 1
) -> Achievement:
    """Parse the `achievement` object of POST/PUT /api/{storeCode}/achievement.

    Raises AchievementInvalid listing every faulty field (paths like
    "rules[0].completeRule.periodGoal").
    """
    if not isinstance(body, Mapping):
        raise AchievementInvalid((FieldError("achievement", "must be an object"),))
    report = Report()
    names = read_translations(body.get("translations"), "translations", report, name_required=True)
    active = body.get("active", False)
    if not isinstance(active, bool):
        report.add("active", "must be a boolean")
        active = False
    activity, activity_def = read_activity(body.get("activity"), report)
    limit, limit_def = read_limit(body.get("limit"), "limit", report)
    raw_rules = body.get("rules")
    rules: list[Rule] = []
    rule_defs: list[dict[str, Any]] = []
    if not isinstance(raw_rules, list) or not 1 <= len(raw_rules) <= MAX_RULES:
        report.add("rules", f"must be a list of 1 to {MAX_RULES} rules")
    else:
        for i, raw in enumerate(raw_rules):
            rule, normal = _rule(raw, f"rules[{i}]", i, achievement_id, rules_version, report)
            if rule is not None:
                rules.append(rule)
                rule_defs.append(normal)
    if report.errors:
        raise AchievementInvalid(tuple(report.errors))
    definition = {
        "translations": names,
        "active": active,
        "activity": activity_def,
        "limit": limit_def,
        "rules": rule_defs,
    }
    en = names["en"]
    return Achievement(
        achievement_id=achievement_id,
        store_code=store_code,
        name=en["name"],
        description=en.get("description", ""),
        active=active,
        activity=activity,
        limit=limit,
        rules=tuple(rules),
        rules_version=rules_version,
        definition=definition,
        translations=names,
        event_types=frozenset(key for r in rules if (key := r.type_key) is not None),
    )


def not_evaluated(achievement: Achievement) -> tuple[FieldError, ...]:
    """What an achievement asks for that the engine does not evaluate yet: ``referral`` rules (no referrals
    come in). Stored, they would never count, and an achievement mixing one with another rule could never
    complete while its events read "counted". The API refuses them when an achievement is saved
    (docs/domain-decisions.md); the processor still reads any stored before, which never match an event."""
    errors = []
    for index, rule in enumerate(achievement.rules):
        if rule.type != "direct":
            errors.append(FieldError(f"rules[{index}].type", "referral rules are not evaluated yet"))
    return tuple(errors)
