"""Aggregation as Open Loyalty defines it: a rule is an expression of the event's attributes, numbers,
+ - * / and parentheses, summed exactly; anything else is refused when the achievement is saved."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from loyalty_stream.domain import AchievementInvalid, parse_achievement
from loyalty_stream.domain.conditions import Facts
from loyalty_stream.domain.expressions import ExpressionError, parse_expression

from .helpers import achievement_body, event, feed, make, progress_of, rule, rules_of


def value(text: str, body: dict[str, Any]) -> Any:
    return parse_expression(text).value(Facts("order", datetime(2026, 1, 1, tzinfo=UTC), body, ZoneInfo("UTC")))


@pytest.mark.parametrize(
    ("text", "body", "expected"),
    [
        ("event.body.price * event.body.quantity", {"price": 2.5, "quantity": 3}, Decimal("7.5")),
        ("event.body.a - 2 * 3", {"a": 10}, 4),
        ("(event.body.a + 2) / 4", {"a": 10}, 3),
        ("-event.body.a + 10", {"a": 4}, 6),
        ("event.body.a / 3", {"a": 1}, Decimal("0.3333333333")),  # quotients rounded to 10 places
        ("event.body.items.0.gross * 2", {"items": [{"gross": 1.1}]}, Decimal("2.2")),  # exact, not 2.2000000000000002
        ("2", {}, 2),
        ("event.body.price", {"price": 7}, 7),
    ],
)
def test_values_are_exact(text: str, body: dict[str, Any], expected: Any) -> None:
    assert value(text, body) == expected


@pytest.mark.parametrize(
    ("text", "body"),
    [
        ("event.body.a / event.body.b", {"a": 1, "b": 0}),  # division by zero
        ("event.body.a * 2", {}),  # missing
        ("event.body.a * 2", {"a": True}),  # a bool is not a number
        ("event.body.a * 2", {"a": "3"}),  # nor a string
    ],
)
def test_a_value_that_is_not_a_number_is_none(text: str, body: dict[str, Any]) -> None:
    assert value(text, body) is None


@pytest.mark.parametrize(
    "text",
    ["", "event.body.a ** 2", "event.body.a +", "(event.body.a", "event.body.a)", "max(event.body.a)", "foo",
     "event.type * 2", "event.eventDate + 1", "transaction.grossValue", "event.body.a % 2", "1 2", "x" * 300],
)  # fmt: skip
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse_expression(text)


def _aggregation(aggregation: dict[str, Any]) -> Any:
    body = achievement_body(rule("order", aggregation=aggregation))
    return parse_achievement(body, achievement_id="a", store_code="DEFAULT").rules[0].aggregation


def test_a_rule_alone_sums_no_rule_or_quantity_counts_and_sum_keeps_working() -> None:
    assert _aggregation({"rule": "event.body.total"}).type == "sum"
    assert _aggregation({"rule": "event.body.price * event.body.quantity"}).type == "sum"
    assert _aggregation({"type": "sum", "rule": "event.body.total"}).type == "sum"
    assert _aggregation({"type": "quantity"}).type == "quantity"
    assert _aggregation({"type": "quantity", "rule": "event.body.total"}).type == "quantity"
    assert _aggregation({}).type == "quantity"
    assert _aggregation({"rule": ""}).type == "quantity"


def test_an_expression_that_is_not_one_is_refused_at_the_rule() -> None:
    with pytest.raises(AchievementInvalid) as caught:
        _aggregation({"rule": "event.body.minutes ** 2"})
    assert [e.path for e in caught.value.errors] == ["rules[0].aggregation.rule"]


def test_an_expression_sums_toward_the_goal() -> None:
    a = make(rule("order", goal=20, aggregation={"rule": "event.body.price * event.body.quantity"}))
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    bodies = [{"price": 2.5, "quantity": 2}, {"price": 1}, {"price": 10, "quantity": 1.5}]
    _, results = feed([event("order", when, body) for body in bodies], [a])
    assert [r.outcome.status for r in results] == ["counted", "no_effect", "counted"]
    assert rules_of(results[0], a)[0]["currentPeriodValue"] == 5  # 2.5 × 2
    assert progress_of(results[2], a)["completedCount"] == 1  # + 10 × 1.5 = 20, the goal
