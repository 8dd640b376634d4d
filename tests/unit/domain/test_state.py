"""MemberState storage: JSON round trip, size that does not grow with history; and the package's public surface."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

import loyalty_stream.domain as domain
from loyalty_stream.domain import MemberState

from .helpers import event, feed, make, rule

PACKAGE = Path(domain.__file__).parent


def rich_state() -> tuple[MemberState, list]:
    achievements = [
        make(rule("spend", goal=10, aggregation={"type": "sum", "rule": "event.body.amount"})),
        make(
            rule("visit", period="day", consecutive=3, goal=2, unique="shop"),
            rule("visit", limit={"value": 2, "interval": {"type": "calendarHours", "value": 6}}, goal=3),
            limit={"value": 5, "interval": {"type": "calendarWeeks", "value": 1}},
        ),
    ]
    start = datetime(2024, 2, 1, 9, tzinfo=UTC)
    events = [event("spend", start, {"amount": 0.1}), event("spend", start, {"amount": 2.25})]
    events += [
        event("visit", start + timedelta(hours=h), {"shop": s}) for h, s in ((0, "a"), (1, "b"), (2, 1), (30, "a"))
    ]
    events += [event("nothing", start)]
    return feed(events, achievements)


def test_round_trip_through_orjson_and_json() -> None:
    state, _ = rich_state()
    raw = state.to_dict()
    for codec in (orjson, json):
        back = MemberState.from_dict(codec.loads(codec.dumps(raw)))
        assert back == state
        assert back.to_dict() == raw
    spend = next(iter(state.progress.values()))
    assert str(spend.rules[0].bucket(0).value) == "2.35"  # exact decimal, not 2.3500000000000001


def test_empty_state_round_trip() -> None:
    assert MemberState.from_dict(orjson.loads(orjson.dumps(MemberState.empty().to_dict()))) == MemberState.empty()


def test_state_does_not_grow_with_history() -> None:
    # The state holds progress only: which events it counts is the processor's (processors/dedup.py).
    a = make(rule("order", goal=10**9), rule("visit", period="day", consecutive=3, goal=2))
    start = datetime(2024, 1, 1, tzinfo=UTC)
    few, _ = feed([event("order", start + timedelta(minutes=i)) for i in range(10)], [a])
    many, _ = feed([event("order", start + timedelta(minutes=i)) for i in range(2000)], [a])
    assert len(orjson.dumps(many.to_dict())) <= len(orjson.dumps(few.to_dict())) + 4  # a longer count, no more


def test_older_stored_values_with_an_applied_log_still_read() -> None:
    state, _ = rich_state()
    stored = {**state.to_dict(), "a": {"x": {"t": 1.0, "o": {"s": "counted"}}}}
    assert MemberState.from_dict(stored) == state


def test_public_surface_is_sorted_and_complete() -> None:
    # sorted the way ruff's RUF022 sorts it: CONSTANTS, then Classes, then functions
    assert domain.__all__ == sorted(domain.__all__, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    for name in domain.__all__:
        assert hasattr(domain, name), name
    wanted = {
        "NAMESPACE",
        "custom_event_id",
        "source_event_id",
        "message_id",
        "rule_id",
        "Event",
        "parse_event_date",
        "MemberRef",
        "FieldError",
        "AchievementInvalid",
        "parse_achievement",
        "Achievement",
        "achievement_view",
        "MemberState",
        "WebhookOutput",
        "Outcome",
        "ProcessResult",
        "process_event",
        "member_achievements_view",
        "REASONS",
    }
    assert wanted <= set(domain.__all__)
    assert documented_reasons() == domain.REASONS
    assert len(domain.REASONS) == 11 and domain.REASONS[0] == "conditions_not_met"


def documented_reasons() -> tuple[str, ...]:
    """The reason codes of docs/domain.md §0's table, in its order: the public list, written once."""
    text = (Path(__file__).resolve().parents[3] / "docs" / "domain.md").read_text()
    table = text[text.index("| reason | the event") :].split("\n\n")[0]
    return tuple(re.findall(r"^\| `([a-z_]+)` \|", table, re.M))


FORBIDDEN = {"faust", "aiokafka", "confluent_kafka", "asyncio", "fastapi", "orjson", "pydantic"}


def test_the_core_imports_no_framework() -> None:
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert not roots & FORBIDDEN, f"{path.name} imports {roots & FORBIDDEN}"


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) < 300, path.name
