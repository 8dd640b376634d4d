"""Conditions on a custom event: `{attribute, operator, data}`, all of which must hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from .condition_data import DataError, Test
from .operators import OPERATORS, UNSUPPORTED

MISSING: Final = object()  # an attribute the event does not have


@dataclass(frozen=True, slots=True, init=False)
class Facts:
    """The event as conditions see it: its date already in store time."""

    type: str
    event_date: datetime  # store-local, tz-aware
    body: Mapping[str, Any]
    tz: ZoneInfo

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, type: str, event_date: datetime, body: Mapping[str, Any], tz: ZoneInfo) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "event_date", event_date)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "tz", tz)


class UnknownAttribute(ValueError):
    """The attribute is not one a custom event has (event.body.<path>, event.type, event.eventDate)."""


def attribute_path(attribute: str) -> tuple[str, ...]:
    """`event.body.a.b` → ("body", "a", "b"); validates the root."""
    if attribute == "event.type":
        return ("type",)
    if attribute == "event.eventDate":
        return ("eventDate",)
    if attribute.startswith("event.body.") and all(attribute[11:].split(".")):
        return ("body", *attribute[11:].split("."))
    raise UnknownAttribute("must be event.body.<field>, event.type or event.eventDate")


def resolve(facts: Facts, path: tuple[str, ...]) -> Any:
    """The value at a path, or MISSING; list items are reached by their index."""
    head = path[0]
    if head == "type":
        return facts.type
    if head == "eventDate":
        return facts.event_date
    value: Any = facts.body
    for step in path[1:]:
        if isinstance(value, Mapping):
            value = value.get(step, MISSING)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


@dataclass(frozen=True, slots=True)
class Condition:
    attribute: str
    operator: str
    data: Any  # as given, for storage and views
    path: tuple[str, ...] = field(repr=False, compare=False)
    test: Test = field(repr=False, compare=False)

    def holds(self, facts: Facts) -> bool:
        value = resolve(facts, self.path)
        if value is MISSING or value is None:
            return False
        return self.test(value, facts.tz)

    def to_dict(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "operator": self.operator, "data": self.data}


class ConditionError(ValueError):
    """Which part of a condition is wrong (`field` is attribute, operator or data)."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part
        self.message = message


def compile_condition(attribute: Any, operator: Any, data: Any, *, allowed: frozenset[str] | None = None) -> Condition:
    """Build a condition, or raise ConditionError naming the faulty part."""
    if not isinstance(attribute, str):
        raise ConditionError("attribute", "must be a string")
    try:
        path = attribute_path(attribute)
    except UnknownAttribute as unknown:  # distinct names: mypyc gives one name one exception type per function
        raise ConditionError("attribute", str(unknown)) from unknown
    if not isinstance(operator, str):
        raise ConditionError("operator", "must be a string")
    if operator in UNSUPPORTED:
        raise ConditionError("operator", f"{operator!r} is not supported for custom events")
    build = OPERATORS.get(operator)
    if build is None or (allowed is not None and operator not in allowed):
        raise ConditionError("operator", f"unknown operator {operator!r}")
    try:
        test = build(data)
    except DataError as invalid:
        raise ConditionError("data", str(invalid)) from invalid
    return Condition(attribute, operator, data, path, test)
