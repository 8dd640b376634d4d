"""Every condition operator: true, false, missing attribute and wrong type (false, never raises)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from loyalty_stream.domain.conditions import MISSING, Condition, ConditionError, Facts, compile_condition

from .helpers import UTC_TZ, WARSAW

# 2024-05-01 is a Wednesday; 10:15 local Warsaw time (08:15 UTC)
WHEN = datetime(2024, 5, 1, 10, 15, tzinfo=WARSAW)


def facts(body: dict[str, Any], type_: str = "order", when: datetime = WHEN) -> Facts:
    return Facts(type_, when.astimezone(WARSAW), body, WARSAW)


def check(operator: str, data: Any, value: Any, attribute: str = "event.body.x") -> bool:
    condition = compile_condition(attribute, operator, data)
    body = {} if value is MISSING else {"x": value}
    return condition.holds(facts(body))


CASES: list[tuple[str, Any, Any, bool]] = [
    # operator, data, attribute value, expected
    ("is_equal", "gold", "gold", True),
    ("is_equal", "gold", "silver", False),
    ("is_equal", 5, 5, True),
    ("is_equal", 5, 5.0, True),
    ("is_equal", "5", 5, True),  # Open Loyalty stores condition data as strings
    ("is_equal", 5, "5", False),  # a string attribute is not a number
    ("is_equal", True, True, True),
    ("is_equal", True, 1, False),
    ("is_equal", ["gold"], "gold", True),
    ("is_equal", "gold", ["gold"], False),
    ("is_not_equal", "gold", "silver", True),
    ("is_not_equal", "gold", "gold", False),
    ("is_not_equal", "gold", {"a": 1}, False),
    ("is_greater", 10, 11, True),
    ("is_greater", 10, 10, False),
    ("is_greater", "10", 10.5, True),
    ("is_greater", 10, "11", False),
    ("is_greater", 10, True, False),
    ("is_greater_or_equal", 10, 10, True),
    ("is_greater_or_equal", 10, 9.99, False),
    ("is_less", 10, 9, True),
    ("is_less", 10, 10, False),
    ("is_less_or_equal", 10, 10, True),
    ("is_less_or_equal", 10, 11, False),
    ("is_less_or_equal", 0.3, 0.1 + 0.2, False),  # exact: 0.30000000000000004 > 0.3
    ("is_number_between", {"from": 1, "to": 3}, 3, True),
    ("is_number_between", [1, 3], 1, True),
    ("is_number_between", {"from": "1", "to": "3"}, 4, False),
    ("is_number_between", {"from": 1, "to": 3}, "2", False),
    ("is_one_of", ["a", "b"], "b", True),
    ("is_one_of", ["a", "b"], "c", False),
    ("is_one_of", ["1", "2"], 2, True),
    ("is_one_of", ["a"], ["a"], False),
    ("is_not_one_of", ["a", "b"], "c", True),
    ("is_not_one_of", ["a", "b"], "a", False),
    ("is_not_one_of", ["a"], None, False),
    ("contains", "ell", "hello", True),
    ("contains", "xyz", "hello", False),
    ("contains", "red", ["red", "blue"], True),
    ("contains", "green", ["red", "blue"], False),
    ("contains", "1", 123, False),
    ("not_contains", "xyz", "hello", True),
    ("not_contains", "ell", "hello", False),
    ("not_contains", "ell", 5, False),
    ("contains_one_of", ["x", "ell"], "hello", True),
    ("contains_one_of", ["x", "y"], "hello", False),
    ("not_contains_one_of", ["x", "y"], "hello", True),
    ("not_contains_one_of", ["x", "ell"], "hello", False),
    ("starts_with", "he", "hello", True),
    ("starts_with", "lo", "hello", False),
    ("starts_with", "1", 123, False),
    ("ends_with", "lo", "hello", True),
    ("ends_with", "he", "hello", False),
    ("ends_with", "lo", None, False),
    ("matches_regex", r"^SKU-\d+$", "SKU-123", True),
    ("matches_regex", r"^SKU-\d+$", "sku-123", False),
    ("matches_regex", r"\d", 5, False),
    ("is_after", "2024-05-01T00:00:00", "2024-05-01T00:00:01", True),
    ("is_after", "2024-05-01T00:00:00", "2024-04-30T23:59:59", False),
    ("is_after", "2024-05-01T00:00:00", "not a date", False),
    ("is_after", "2024-05-01T00:00:00", 1714557600, False),
    ("is_before", "2024-05-01T00:00:00+02:00", "2024-04-30T21:59:59Z", True),
    ("is_before", "2024-05-01T00:00:00", "2024-05-01T00:00:00", False),
    ("is_between", {"from": "2024-05-01", "to": "2024-05-31T23:59:59"}, "2024-05-31T12:00:00", True),
    ("is_between", ["2024-05-01", "2024-05-31"], "2024-06-01T00:00:01", False),
    ("is_between", {"from": 1, "to": 5}, 3, True),
    ("is_not_between", {"from": "2024-05-01", "to": "2024-05-31"}, "2024-06-02", True),
    ("is_not_between", {"from": "2024-05-01", "to": "2024-05-31"}, "2024-05-02", False),
    ("is_not_between", {"from": "2024-05-01", "to": "2024-05-31"}, True, False),
    ("is_day_of_week", [3], "2024-05-01T12:00:00", True),  # Wednesday = 3 (ISO)
    ("is_day_of_week", ["saturday", "Sun"], "2024-05-01T12:00:00", False),
    ("is_day_of_week", ["wednesday"], "2024-05-01T12:00:00", True),
    ("is_day_of_week", [3], 3, False),
    ("is_month_of_year", [5], "2024-05-01T12:00:00", True),
    ("is_month_of_year", ["june", "Jul"], "2024-05-01T12:00:00", False),
    ("is_month_of_year", ["May"], "2024-05-01T12:00:00", True),
    ("is_day_of_month", [1, 15], "2024-05-01T12:00:00", True),
    ("is_day_of_month", ["2"], "2024-05-01T12:00:00", False),
    ("is_time_between", {"from": "08:00", "to": "12:00"}, "2024-05-01T12:00:00", True),
    ("is_time_between", {"from": "08:00", "to": "12:00"}, "2024-05-01T12:00:01", False),
    ("is_time_between", {"from": "22:00", "to": "02:00"}, "2024-05-01T23:30:00", True),
    ("is_time_between", {"from": "22:00", "to": "02:00"}, "2024-05-01T03:00:00", False),
    ("is_time_between", {"from": "08:00", "to": "12:00"}, [], False),
]


@pytest.mark.parametrize(("operator", "data", "value", "expected"), CASES)
def test_operator(operator: str, data: Any, value: Any, expected: bool) -> None:
    assert check(operator, data, value) is expected


@pytest.mark.parametrize("operator", sorted({c[0] for c in CASES}))
def test_missing_attribute_is_false(operator: str) -> None:
    data = next(c[1] for c in CASES if c[0] == operator)
    assert check(operator, data, MISSING) is False
    assert check(operator, data, None) is False


@pytest.mark.parametrize("operator", sorted({c[0] for c in CASES}))
def test_nested_wrong_types_never_raise(operator: str) -> None:
    data = next(c[1] for c in CASES if c[0] == operator)
    for value in ({"a": [1, 2]}, [{"x": 1}], float("nan"), 10**400, "", "\x00"):
        assert isinstance(check(operator, data, value), bool)


def test_dotted_paths_and_list_indexes() -> None:
    c = compile_condition("event.body.order.items.1.sku", "is_equal", "B")
    assert c.holds(facts({"order": {"items": [{"sku": "A"}, {"sku": "B"}]}}))
    assert not c.holds(facts({"order": {"items": [{"sku": "A"}]}}))
    assert not c.holds(facts({"order": "flat"}))


def test_event_type_attribute() -> None:
    c = compile_condition("event.type", "is_one_of", ["order", "refund"])
    assert c.holds(facts({}, "order"))
    assert not c.holds(facts({}, "login"))


@pytest.mark.parametrize(
    ("operator", "data", "when", "expected"),
    [
        ("is_day_of_week", [3], datetime(2024, 5, 1, 23, 30, tzinfo=WARSAW), True),
        # 23:30 UTC on Tuesday is already Wednesday 01:30 in Warsaw: store time decides
        ("is_day_of_week", [3], datetime(2024, 4, 30, 23, 30, tzinfo=UTC_TZ), True),
        ("is_time_between", {"from": "00:00", "to": "02:00"}, datetime(2024, 4, 30, 23, 30, tzinfo=UTC_TZ), True),
        ("is_after", "2024-05-01T00:00:00", datetime(2024, 4, 30, 22, 30, tzinfo=UTC_TZ), True),
        ("is_before", "2024-05-01T00:00:00", datetime(2024, 4, 30, 22, 30, tzinfo=UTC_TZ), False),
        ("is_month_of_year", [5], datetime(2024, 4, 30, 23, 30, tzinfo=UTC_TZ), True),
        ("is_day_of_month", [1], datetime(2024, 4, 30, 23, 30, tzinfo=UTC_TZ), True),
    ],
)
def test_event_date_attribute_in_store_time(operator: str, data: Any, when: datetime, expected: bool) -> None:
    c = compile_condition("event.eventDate", operator, data)
    assert c.holds(facts({}, when=when)) is expected


def test_body_dates_without_offset_are_store_time() -> None:
    c = compile_condition("event.body.x", "is_time_between", {"from": "10:00", "to": "11:00"})
    assert c.holds(facts({"x": "2024-05-01T10:30:00"}))
    assert not c.holds(facts({"x": "2024-05-01T10:30:00Z"}))  # 12:30 in Warsaw


def test_is_after_across_the_repeated_hour_compares_instants() -> None:
    # 02:45 CEST (first pass, 00:45 UTC) is before 02:15 CET (second pass, 01:15 UTC)
    c = compile_condition("event.eventDate", "is_after", "2024-10-27T01:15:00Z")
    first = datetime(2024, 10, 27, 2, 45, tzinfo=WARSAW, fold=0)
    second = datetime(2024, 10, 27, 2, 20, tzinfo=WARSAW, fold=1)
    assert not c.holds(facts({}, when=first))
    assert c.holds(facts({}, when=second))


@pytest.mark.parametrize(
    ("attribute", "operator", "data", "part"),
    [
        ("event.body.x", "no_such_operator", 1, "operator"),
        ("event.body.x", "expression", "a > 1", "operator"),
        ("event.body.x", 5, 1, "operator"),
        ("customer.email", "is_equal", "a", "attribute"),
        ("event.body.", "is_equal", "a", "attribute"),
        ("event.body.x", "is_greater", "ten", "data"),
        ("event.body.x", "is_one_of", [], "data"),
        ("event.body.x", "matches_regex", "(", "data"),
        ("event.body.x", "is_after", "tomorrow", "data"),
        ("event.body.x", "is_between", {"from": "2024-01-01"}, "data"),
        ("event.body.x", "is_day_of_week", [8], "data"),
        ("event.body.x", "is_day_of_week", ["funday"], "data"),
        ("event.body.x", "is_month_of_year", [0], "data"),
        ("event.body.x", "is_time_between", {"from": "25:00", "to": "26:00"}, "data"),
        ("event.body.x", "is_equal", {"a": 1}, "data"),
        ("event.body.x", "starts_with", "", "data"),
    ],
)
def test_bad_conditions_are_refused_at_save_time(attribute: Any, operator: Any, data: Any, part: str) -> None:
    with pytest.raises(ConditionError) as info:
        compile_condition(attribute, operator, data)
    assert info.value.part == part


def test_condition_keeps_its_definition() -> None:
    c = compile_condition("event.body.x", "is_one_of", ["a"])
    assert isinstance(c, Condition)
    assert c.to_dict() == {"attribute": "event.body.x", "operator": "is_one_of", "data": ["a"]}
