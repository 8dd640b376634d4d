"""Conditions on a custom event: `{attribute, operator, data}`, all of which must hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from .condition_data import DataError, Test
from .numbers import Number, finite_number, normalise
from .operators import LABEL_OPERATOR, NEGATED, OPERATORS, UNSUPPORTED

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
    """The attribute is not one the rule's trigger has (event.body.<path>, event.type, event.eventDate for a
    custom event; transaction.<field>, transaction.items.<field> for a transaction)."""


EACH: Final = "*"  # a path step that fans out over a list: transaction.items.sku is every item's sku


class Many:
    """The values a fanned-out path reached, one per list item (a condition holds for any of them)."""

    __slots__ = ("values",)

    def __init__(self, values: list[Any]) -> None:
        self.values = values


def attribute_path(attribute: str, trigger: str = "custom_event") -> tuple[str, ...]:
    """`event.body.a.b` → ("body", "a", "b"); `transaction.items.sku` → ("body", "items", "*", "sku");
    validates the root (and, for a transaction, the field names)."""
    if trigger == "transaction":
        return _transaction_path(attribute)
    if attribute == "event.type":
        return ("type",)
    if attribute == "event.eventDate":
        return ("eventDate",)
    if attribute.startswith("event.body.") and all(attribute[11:].split(".")):
        return ("body", *attribute[11:].split("."))
    raise UnknownAttribute("must be event.body.<field>, event.type or event.eventDate")


# What transaction rules may name (`transaction.<field>`, `transaction.items.<field>`, the facts of
# loyalty_stream/domain/transactions.py): anything else is refused when the achievement is saved.
TRANSACTION_FIELDS: Final = frozenset(
    {"documentNumber", "documentType", "linkedDocumentNumber", "purchasedAt", "purchasePlace", "labels"}
    | {"channelId", "grossValue", "items"}
)
ITEM_FIELDS: Final = frozenset(
    {"sku", "name", "grossValue", "category", "maker", "quantity", "highPrecisionQuantity", "labels"}
)


def _transaction_path(attribute: str) -> tuple[str, ...]:
    steps = attribute.split(".")
    if steps[0] != "transaction" or len(steps) < 2 or not all(steps):
        raise UnknownAttribute("must be transaction.<field> or transaction.items.<field>")
    field = steps[1]
    if field not in TRANSACTION_FIELDS:
        names = ", ".join(sorted(TRANSACTION_FIELDS))
        raise UnknownAttribute(f"transaction.{field} is not a transaction attribute: one of {names}")
    if field == "purchasedAt" and len(steps) == 2:
        return ("eventDate",)  # the instant, as date operators need it
    if field == "items" and len(steps) > 2:
        each = not steps[2].isdigit()
        rest = steps[2:] if each else steps[3:]
        if rest and rest[0] not in ITEM_FIELDS:
            names = ", ".join(sorted(ITEM_FIELDS))
            raise UnknownAttribute(f"{rest[0]} is not an item attribute: one of {names}")
        return ("body", "items", EACH, *rest) if each else ("body", *steps[1:])
    return ("body", *steps[1:])


def resolve(facts: Facts, path: tuple[str, ...]) -> Any:
    """The value at a path, or MISSING; list items are reached by their index, and a ``*`` step gives
    ``Many`` values, one per item (MISSING where an item has none)."""
    head = path[0]
    if head == "type":
        return facts.type
    if head == "eventDate":
        return facts.event_date
    return _walk(facts.body, path, 1)


def _walk(value: Any, path: tuple[str, ...], start: int) -> Any:
    for at in range(start, len(path)):
        step = path[at]
        if step == EACH:
            if not isinstance(value, list):
                return MISSING
            return Many([_walk(item, path, at + 1) for item in value])
        if isinstance(value, Mapping):
            value = value.get(step, MISSING)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def number_at(facts: Facts, path: tuple[str, ...]) -> Number | None:
    """The exact number at a path (a fanned-out path: the sum over its items), or None when a value there is
    missing or not a number."""
    raw = resolve(facts, path)
    if not isinstance(raw, Many):
        return None if isinstance(raw, bool) else finite_number(raw)
    total = Decimal(0)
    for value in raw.values:
        number = None if isinstance(value, bool) else finite_number(value)
        if number is None:
            return None
        total += number
    return normalise(total)


@dataclass(frozen=True, slots=True)
class Condition:
    attribute: str
    operator: str
    data: Any  # as given, for storage and views
    path: tuple[str, ...] = field(repr=False, compare=False)
    test: Test = field(repr=False, compare=False)

    def holds(self, facts: Facts) -> bool:
        value = resolve(facts, self.path)
        if isinstance(value, Many):
            # Over a transaction's items: some item passes; a negated operator: every item (none is it).
            tz, test = facts.tz, self.test
            passes = (v is not MISSING and v is not None and test(v, tz) for v in value.values)
            return all(passes) if self.operator in NEGATED else any(passes)
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


def compile_condition(
    attribute: Any,
    operator: Any,
    data: Any,
    *,
    allowed: frozenset[str] | None = None,
    trigger: str = "custom_event",
) -> Condition:
    """Build a condition of a ``trigger``'s rule, or raise ConditionError naming the faulty part."""
    if not isinstance(attribute, str):
        raise ConditionError("attribute", "must be a string")
    try:
        path = attribute_path(attribute, trigger)
    except UnknownAttribute as unknown:  # distinct names: mypyc gives one name one exception type per function
        raise ConditionError("attribute", str(unknown)) from unknown
    if not isinstance(operator, str):
        raise ConditionError("operator", "must be a string")
    if operator == LABEL_OPERATOR and trigger == "transaction":
        if path[-1] != "labels":
            raise ConditionError(
                "attribute", "has_at_least_one_label needs transaction.labels or transaction.items.labels"
            )
    elif operator in UNSUPPORTED:
        kind = "transactions" if trigger == "transaction" else "custom events (they carry no labels)"
        raise ConditionError("operator", f"{operator!r} is not supported for {kind}")
    build = OPERATORS.get(operator)
    if build is None or (allowed is not None and operator not in allowed):
        raise ConditionError("operator", f"unknown operator {operator!r}")
    try:
        test = build(data)
    except DataError as invalid:
        raise ConditionError("data", str(invalid)) from invalid
    return Condition(attribute, operator, data, path, test)
