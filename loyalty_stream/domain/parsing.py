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
    Aggregation,
    CompleteRule,
    Interval,
    Limit,
    Period,
    Rule,
)
from .calendar import INTERVAL_TYPES, PERIOD_TYPES, IntervalType, PeriodType
from .conditions import Condition, ConditionError, UnknownAttribute, attribute_path, compile_condition
from .errors import AchievementInvalid, FieldError
from .ids import rule_id
from .numbers import Number, numeric, to_json
from .operators import ACTIVITY_OPERATORS

MAX_RULES: Final = 6
MAX_STREAK: Final = 1000  # bounds the buckets kept per rule (C+1 or N)


class _Report:
    """Collects field errors so one 400 lists all of them."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))


def _count(raw: Any, path: str, report: _Report, *, default: int | None = None, top: int | None = None) -> int | None:
    """A positive integer (a whole numeric string is fine)."""
    if raw is None:
        if default is None:
            report.add(path, "is required")
        return default
    number = None if isinstance(raw, bool) else numeric(raw)
    if not isinstance(number, int) or number < 1:
        report.add(path, "must be a positive integer")
        return default
    if top is not None and number > top:
        report.add(path, f"must be at most {top}")
        return default
    return number


def _translations(raw: Any, path: str, report: _Report, *, name_required: bool) -> dict[str, Any]:
    if raw is None and not name_required:
        return {"en": {"name": ""}}
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object with an 'en' translation")
        return {"en": {"name": ""}}
    out: dict[str, Any] = {}
    for locale, text in raw.items():
        if not isinstance(text, Mapping):
            report.add(f"{path}.{locale}", "must be an object")
            continue
        entry: dict[str, Any] = {}
        for key in ("name", "description"):
            value = text.get(key)
            if value is not None and not isinstance(value, str):
                report.add(f"{path}.{locale}.{key}", "must be a string")
            elif value is not None:
                entry[key] = value
        entry.setdefault("name", "")
        out[str(locale)] = entry
    if name_required and not (isinstance(raw.get("en"), Mapping) and out.get("en", {}).get("name")):
        report.add(f"{path}.en.name", "is required")
    out.setdefault("en", {"name": ""})
    return out


def _limit(raw: Any, path: str, report: _Report) -> tuple[Limit | None, dict[str, Any] | None]:
    if raw is None or (isinstance(raw, Mapping) and raw.get("value") is None):
        return None, None
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object")
        return None, None
    value = _count(raw.get("value"), f"{path}.value", report, default=1)
    assert value is not None
    interval_raw = raw.get("interval")
    if interval_raw is None:
        return Limit(value), {"value": value}
    if not isinstance(interval_raw, Mapping):
        report.add(f"{path}.interval", "must be an object")
        return None, None
    kind = interval_raw.get("type")
    if kind not in INTERVAL_TYPES:
        report.add(f"{path}.interval.type", f"must be one of {', '.join(INTERVAL_TYPES)}")
        return None, None
    every = _count(interval_raw.get("value"), f"{path}.interval.value", report, default=1)
    assert every is not None
    interval = Interval(cast(IntervalType, kind), every)
    return Limit(value, interval), {"value": value, "interval": {"type": kind, "value": every}}


def _activity(raw: Any, report: _Report) -> tuple[Condition | None, dict[str, Any]]:
    always = {"operator": "", "data": None}
    if raw is None:
        return None, always
    if not isinstance(raw, Mapping):
        report.add("activity", "must be an object")
        return None, always
    operator = raw.get("operator")
    if operator in ("", None):
        return None, always
    try:
        condition = compile_condition("event.eventDate", operator, raw.get("data"), allowed=ACTIVITY_OPERATORS)
    except ConditionError as exc:
        report.add(f"activity.{exc.part}", exc.message)
        return None, always
    return condition, {"operator": operator, "data": raw.get("data")}


def _conditions(raw: Any, path: str, report: _Report) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        report.add(path, "must be a list")
        return ()
    found: list[Condition] = []
    for j, item in enumerate(raw):
        if not isinstance(item, Mapping):
            report.add(f"{path}[{j}]", "must be an object")
            continue
        try:
            found.append(compile_condition(item.get("attribute"), item.get("operator"), item.get("data")))
        except ConditionError as exc:
            report.add(f"{path}[{j}].{exc.part}", exc.message)
    return tuple(found)


def _aggregation(raw: Any, path: str, report: _Report) -> Aggregation:
    if raw is None:
        return Aggregation()
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object")
        return Aggregation()
    kind = raw.get("type", "quantity")
    if kind == "quantity":
        return Aggregation()
    if kind != "sum":
        report.add(f"{path}.type", "must be quantity or sum")
        return Aggregation()
    rule = raw.get("rule")
    try:
        body_path = attribute_path(rule) if isinstance(rule, str) else ()
    except UnknownAttribute:
        body_path = ()
    if body_path[:1] != ("body",):
        report.add(f"{path}.rule", "must be event.body.<field> for a sum")
        return Aggregation()
    return Aggregation("sum", rule, body_path)


def _unique(raw: Any, path: str, report: _Report) -> tuple[str | None, tuple[str, ...]]:
    if raw in (None, ""):
        return None, ()
    if not isinstance(raw, str):
        report.add(path, "must be a string")
        return None, ()
    # A bare field name means a body field, as in Open Loyalty's admin panel.
    full = raw if raw.startswith("event.") else f"event.body.{raw}"
    try:
        return raw, attribute_path(full)
    except UnknownAttribute as exc:
        report.add(path, str(exc))
        return None, ()


def _complete_rule(raw: Any, path: str, report: _Report) -> tuple[CompleteRule, dict[str, Any]]:
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
            _count(period_raw.get("consecutive"), f"{path}.period.consecutive", report, default=1, top=MAX_STREAK) or 1
        )
        days = 1
        if kind == "last_day":
            days = _count(period_raw.get("value"), f"{path}.period.value", report, top=MAX_STREAK) or 1
        period = Period(kind, consecutive if kind not in ("overall", "last_day") else 1, days)
    unique, unique_path = _unique(raw.get("uniqueAttribute"), f"{path}.uniqueAttribute", report)
    period_def: dict[str, Any] = {"type": period.type, "consecutive": period.consecutive}
    if period.type == "last_day":
        period_def["value"] = period.value
    normal: dict[str, Any] = {"periodGoal": to_json(goal), "period": period_def}
    if unique is not None:
        normal["uniqueAttribute"] = unique
    return CompleteRule(goal, period, unique, unique_path), normal


def _rule(
    raw: Any, path: str, index: int, achievement_id: str, version: int, report: _Report
) -> tuple[Rule | None, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object")
        return None, {}
    trigger, kind, event = raw.get("trigger"), raw.get("type"), raw.get("event")
    if trigger not in ("custom_event", "transaction"):
        report.add(f"{path}.trigger", "must be custom_event or transaction")
    if kind not in ("direct", "referral"):
        report.add(f"{path}.type", "must be direct or referral")
    if trigger == "custom_event" and (not isinstance(event, str) or not event):
        report.add(f"{path}.event", "is required for a custom_event trigger")
    elif event is not None and not isinstance(event, str):
        report.add(f"{path}.event", "must be a string")
    conditions = _conditions(raw.get("conditions"), f"{path}.conditions", report)
    aggregation = _aggregation(raw.get("aggregation"), f"{path}.aggregation", report)
    complete, complete_def = _complete_rule(raw.get("completeRule"), f"{path}.completeRule", report)
    limit, limit_def = _limit(raw.get("limit"), f"{path}.limit", report)
    names = _translations(raw.get("translations"), f"{path}.translations", report, name_required=False)
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
    report = _Report()
    names = _translations(body.get("translations"), "translations", report, name_required=True)
    active = body.get("active", False)
    if not isinstance(active, bool):
        report.add("active", "must be a boolean")
        active = False
    activity, activity_def = _activity(body.get("activity"), report)
    limit, limit_def = _limit(body.get("limit"), "limit", report)
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
        event_types=frozenset(r.event for r in rules if r.event and r.listens_to(r.event)),
    )
