"""Reading the parts of an achievement form: each reader returns the parsed part and reports
faulty fields by path, so one 400 can list all of them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from .achievement import Aggregation, Interval, Limit
from .calendar import INTERVAL_TYPES, IntervalType
from .conditions import Condition, ConditionError, UnknownAttribute, attribute_path, compile_condition
from .errors import FieldError
from .expressions import ExpressionError, parse_expression
from .numbers import numeric
from .operators import ACTIVITY_OPERATORS


class Report:
    """Collects field errors so one 400 lists all of them."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))


def read_count(
    raw: Any, path: str, report: Report, *, default: int | None = None, top: int | None = None
) -> int | None:
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


def read_translations(raw: Any, path: str, report: Report, *, name_required: bool) -> dict[str, Any]:
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


def read_limit(raw: Any, path: str, report: Report) -> tuple[Limit | None, dict[str, Any] | None]:
    if raw is None or (isinstance(raw, Mapping) and raw.get("value") is None):
        return None, None
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object")
        return None, None
    value = read_count(raw.get("value"), f"{path}.value", report, default=1)
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
    every = read_count(interval_raw.get("value"), f"{path}.interval.value", report, default=1)
    assert every is not None
    interval = Interval(cast(IntervalType, kind), every)
    return Limit(value, interval), {"value": value, "interval": {"type": kind, "value": every}}


def read_activity(raw: Any, report: Report) -> tuple[Condition | None, dict[str, Any]]:
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


def read_conditions(raw: Any, path: str, report: Report, trigger: str = "custom_event") -> tuple[Condition, ...]:
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
            found.append(
                compile_condition(item.get("attribute"), item.get("operator"), item.get("data"), trigger=trigger)
            )
        except ConditionError as exc:
            report.add(f"{path}[{j}].{exc.part}", exc.message)
    return tuple(found)


_ATTRIBUTE = re.compile(r"^event\.body\.[^\s()+*/.]+(\.[^\s()+*/.]+)*$")
_EXPRESSION = "must be an expression of {} attributes, numbers, + - * / and ()"


def read_aggregation(raw: Any, path: str, report: Report, trigger: str = "custom_event") -> Aggregation:
    """Open Loyalty's Aggregation: ``{"rule": <expression>}`` sums the expression's value per event;
    no rule, or ``{"type": "quantity"}``, counts events; our ``{"type": "sum", "rule": …}`` keeps working."""
    if raw is None:
        return Aggregation()
    if not isinstance(raw, Mapping):
        report.add(path, "must be an object")
        return Aggregation()
    kind, rule = raw.get("type"), raw.get("rule")
    if kind == "quantity" or (kind is None and rule in (None, "")):
        return Aggregation()
    if kind not in ("sum", None):
        report.add(f"{path}.type", "must be quantity or sum")
        return Aggregation()
    wanted = _EXPRESSION.format("transaction.<field>" if trigger == "transaction" else "event.body.<field>")
    if not isinstance(rule, str):
        report.add(f"{path}.rule", wanted)
        return Aggregation()
    if trigger != "transaction" and _ATTRIBUTE.match(rule):
        return Aggregation("sum", rule, attribute_path(rule))  # one attribute, as every sum before expressions
    try:
        expression = parse_expression(rule, trigger)
    except ExpressionError as exc:
        report.add(f"{path}.rule", f"{wanted}: {exc}")
        return Aggregation()
    return Aggregation("sum", rule, expression.path, None if expression.path else expression)


def read_unique(
    raw: Any, path: str, report: Report, trigger: str = "custom_event"
) -> tuple[str | None, tuple[str, ...]]:
    if raw in (None, ""):
        return None, ()
    if not isinstance(raw, str):
        report.add(path, "must be a string")
        return None, ()
    # A bare field name means a body field (a transaction's field), as in Open Loyalty's admin panel.
    root = "transaction" if trigger == "transaction" else "event"
    full = raw if raw.startswith(f"{root}.") else f"{root}.body.{raw}" if root == "event" else f"{root}.{raw}"
    try:
        return raw, attribute_path(full, trigger)
    except UnknownAttribute as exc:
        report.add(path, str(exc))
        return None, ()
