"""Transactions as a trigger (issue 15): Open Loyalty's PostTransaction checked once, turned into the facts
transaction rules see, and counted with the same periods, conditions and aggregations as custom events."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from loyalty_stream.domain import AchievementInvalid, Event, parse_achievement
from loyalty_stream.domain.ids import transaction_id
from loyalty_stream.domain.transactions import transaction_problems

from .helpers import STORE, UTC_TZ, achievement_body, event, feed, make, progress_of, rule, transaction_event, tx_rule

NOW = datetime(2026, 6, 30, 12, tzinfo=UTC)
_numbers = itertools.count(1)


def item(sku: str = "SKU-1", gross: float = 10, category: str = "shoes", **more: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"Item {sku}", "grossValue": gross, "category": category, "quantity": 1, **more}


def body(
    items: Sequence[Mapping[str, Any]] = (),
    *,
    when: str = "2026-06-01T10:00:00+00:00",
    document: str | None = None,
    **header: Any,
) -> dict[str, Any]:
    return {
        "header": {"documentNumber": document or f"DOC-{next(_numbers)}", "purchasedAt": when, **header},
        "items": [dict(i) for i in items] or [item()],
        "customerData": {"email": "jane@example.com"},
    }


def transaction(raw: Mapping[str, Any]) -> Event:
    facts, moment, problems = transaction_problems(raw, UTC_TZ, NOW)
    assert not problems and facts is not None and moment is not None, problems
    return transaction_event(moment, facts, facts["documentNumber"])


def problems_of(raw: Any) -> list[tuple[str, str]]:
    return [(p.path, p.reason) for p in transaction_problems(raw, UTC_TZ, NOW)[2]]


# -- the one validation --------------------------------------------------------------------------------------


def test_a_valid_transaction_becomes_facts_with_its_gross_value_the_exact_sum_of_its_items() -> None:
    facts, moment, problems = transaction_problems(
        body([item(gross=0.1), item("SKU-2", gross=0.2, labels=[{"key": "promo", "value": "yes"}])], document="D1"),
        UTC_TZ,
        NOW,
    )
    assert problems == [] and facts is not None
    assert facts["grossValue"] == 0.3  # exact: 0.1 + 0.2 in floats is 0.30000000000000004
    assert facts["documentNumber"] == "D1" and facts["documentType"] == "sell"
    assert facts["items"][1]["labels"] == [{"key": "promo", "value": "yes"}]
    assert moment == datetime(2026, 6, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda b: b["header"].pop("documentNumber"), ("header.documentNumber", "missing_field")),
        (lambda b: b["header"].pop("purchasedAt"), ("header.purchasedAt", "missing_field")),
        (lambda b: b["header"].update(purchasedAt="yesterday"), ("header.purchasedAt", "invalid_event_date")),
        (lambda b: b["header"].update(purchasedAt="2026-07-30T00:00:00Z"), ("header.purchasedAt", "future_event_date")),
        (lambda b: b["header"].update(documentType="refund"), ("header.documentType", "invalid_transaction")),
        (lambda b: b["items"][0].pop("sku"), ("items[0].sku", "missing_field")),
        (lambda b: b["items"][0].update(grossValue="10"), ("items[0].grossValue", "invalid_transaction")),
        (lambda b: b["items"][0].pop("quantity"), ("items[0].quantity", "invalid_transaction")),
        (lambda b: b["items"][0].update(colour="red"), ("items[0].colour", "invalid_transaction")),
        (lambda b: b.update(items="none"), ("items", "invalid_transaction")),
        (lambda b: b.update(channelId="not-a-uuid"), ("channelId", "invalid_transaction")),
        (lambda b: b["customerData"].update(email=5), ("customerData.email", "invalid_transaction")),
        (lambda b: b["header"].update(labels=[{"key": "a"}]), ("header.labels[0].value", "missing_field")),
    ],
)
def test_what_is_wrong_with_a_transaction_is_named_by_its_path(mutate: Any, expected: tuple[str, str]) -> None:
    raw = body()
    mutate(raw)
    assert expected in problems_of(raw)


def test_a_transaction_without_customer_data_is_valid_its_member_is_unknown_until_assigned() -> None:
    raw = body()
    del raw["customerData"]
    assert problems_of(raw) == []


# -- rules that count transactions ------------------------------------------------------------------------


def test_four_purchases_a_month_counts_transactions_and_ignores_custom_events() -> None:
    a = make(tx_rule(period="month", goal=4))
    days = [f"2026-06-0{d}T10:00:00Z" for d in (1, 2, 3, 4)]
    _, results = feed(
        [event("order", datetime(2026, 6, 1, tzinfo=UTC))] + [transaction(body(when=d)) for d in days], [a]
    )
    assert results[0].outcome.reason == "no_achievement_listens"
    assert [r.outcome.status for r in results[1:]] == ["counted"] * 4
    assert progress_of(results[-1], a)["completedCount"] == 1


def test_spend_100_in_a_week_sums_the_gross_value() -> None:
    a = make(tx_rule(period="week", goal=100, aggregation={"rule": "transaction.grossValue"}))
    _, results = feed(
        [transaction(body([item(gross=60)], when="2026-06-01T10:00:00Z")),
         transaction(body([item(gross=30), item("B", gross=15)], when="2026-06-03T10:00:00Z"))],
        [a],
    )  # fmt: skip
    first, second = (progress_of(r, a) for r in results)
    assert first["completedCount"] == 0 and second["completedCount"] == 1


def test_an_expression_over_items_sums_their_attribute() -> None:
    a = make(tx_rule(goal=10, aggregation={"rule": "transaction.items.quantity * 2"}))
    _, results = feed([transaction(body([item(quantity=2), item("B", quantity=3)]))], [a])
    assert progress_of(results[0], a)["completedCount"] == 1  # (2 + 3) * 2 = 10


@pytest.mark.parametrize(
    ("condition", "items", "counted"),
    [
        ({"attribute": "transaction.purchasePlace", "operator": "is_equal", "data": "Warsaw"}, [item()], True),
        ({"attribute": "transaction.grossValue", "operator": "is_greater", "data": 15}, [item(gross=10)], False),
        ({"attribute": "transaction.items.category", "operator": "is_equal", "data": "hats"},
         [item(), item("B", category="hats")], True),
        ({"attribute": "transaction.items.category", "operator": "is_not_equal", "data": "hats"},
         [item(), item("B", category="hats")], False),  # negated over items: no item may be one
        ({"attribute": "transaction.items.0.sku", "operator": "starts_with", "data": "SKU"}, [item()], True),
        ({"attribute": "transaction.labels", "operator": "has_at_least_one_label", "data": [{"key": "vip"}]},
         [item()], True),
        ({"attribute": "transaction.items.labels", "operator": "has_at_least_one_label",
          "data": {"key": "promo", "value": "summer"}}, [item(labels=[{"key": "promo", "value": "winter"}])], False),
        ({"attribute": "transaction.purchasedAt", "operator": "is_day_of_week", "data": [1]}, [item()], True),
    ],
)  # fmt: skip
def test_conditions_on_transaction_attributes_labels_and_items(
    condition: dict[str, Any], items: list[dict[str, Any]], counted: bool
) -> None:
    a = make(tx_rule(conditions=[condition]))
    raw = body(items, purchasePlace="Warsaw", labels=[{"key": "vip", "value": "gold"}])  # a Monday
    _, results = feed([transaction(raw)], [a])
    assert (results[0].outcome.status == "counted") is counted, results[0].outcome


def test_a_unique_item_attribute_counts_each_new_set_once() -> None:
    a = make(tx_rule(goal=2, unique="items.sku"))
    _, results = feed(
        [transaction(body([item("A")])), transaction(body([item("A")])), transaction(body([item("B")]))], [a]
    )
    assert [r.outcome.reason for r in results] == [None, "unique_attribute_repeated", None]


def test_a_return_is_recorded_and_counts_towards_nothing() -> None:
    a = make(tx_rule())
    _, results = feed([transaction(body(documentType="return", linkedDocumentNumber="DOC-1"))], [a])
    assert (results[0].outcome.status, results[0].outcome.reason, results[0].outputs) == (
        "no_effect",
        "return_not_counted",
        (),
    )


def test_the_progress_webhook_names_the_transaction_as_its_trigger() -> None:
    a = make(tx_rule())
    raw = body(document="INV-7", when="2026-06-01T10:00:00Z")
    _, results = feed([transaction(raw)], [a])
    trigger = results[0].outputs[0].data["trigger"]
    assert trigger == {
        "triggerId": transaction_id(STORE, "INV-7"),
        "type": "transaction",
        "createdAt": "2026-06-01T10:00:00+00:00",
        "purchasedAt": "2026-06-01T10:00:00+00:00",
        "documentNumber": "INV-7",
    }


def test_an_achievement_with_a_transaction_rule_and_a_custom_event_rule_completes_on_both() -> None:
    a = make(tx_rule(), rule("review"))
    _, results = feed([transaction(body()), event("review", datetime(2026, 6, 2, tzinfo=UTC))], [a])
    assert [progress_of(r, a)["completedCount"] for r in results] == [0, 1]


@pytest.mark.parametrize(
    ("part", "path"),
    [
        ({"conditions": [{"attribute": "event.body.x", "operator": "is_equal", "data": 1}]},
         "rules[0].conditions[0].attribute"),
        ({"conditions": [{"attribute": "transaction.colour", "operator": "is_equal", "data": 1}]},
         "rules[0].conditions[0].attribute"),
        ({"conditions": [{"attribute": "transaction.items.colour", "operator": "is_equal", "data": 1}]},
         "rules[0].conditions[0].attribute"),
        ({"conditions": [{"attribute": "transaction.grossValue", "operator": "has_at_least_one_label",
                          "data": {"key": "a"}}]}, "rules[0].conditions[0].attribute"),
        ({"conditions": [{"attribute": "transaction.labels", "operator": "has_at_least_one_label", "data": 3}]},
         "rules[0].conditions[0].data"),
        ({"aggregation": {"rule": "event.body.minutes"}}, "rules[0].aggregation.rule"),
        ({"aggregation": {"rule": "transaction.purchasedAt"}}, "rules[0].aggregation.rule"),
    ],
)  # fmt: skip
def test_what_a_transaction_rule_cannot_evaluate_is_refused_at_the_field(part: dict[str, Any], path: str) -> None:
    with pytest.raises(AchievementInvalid) as refused:
        parse_achievement(achievement_body(tx_rule() | part), achievement_id="a", store_code=STORE)
    assert path in [e.path for e in refused.value.errors]


def test_labels_are_refused_on_custom_event_rules_which_carry_none() -> None:
    condition = {"attribute": "event.body.tags", "operator": "has_at_least_one_label", "data": {"key": "a"}}
    with pytest.raises(AchievementInvalid) as refused:
        parse_achievement(achievement_body(rule("x", conditions=[condition])), achievement_id="a", store_code=STORE)
    assert [e.path for e in refused.value.errors] == ["rules[0].conditions[0].operator"]
