"""MemberState storage: JSON round trip, compact log, pruning; and the package's public surface."""

from __future__ import annotations

import ast
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

import loyalty_stream.domain as domain
from loyalty_stream.domain import MemberState, process_event, prune

from .helpers import MEMBER, STORE, UTC_TZ, event, feed, make, rule

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


def test_log_stores_the_processed_payload_once() -> None:
    state, results = rich_state()
    stored = state.to_dict()["a"][next(iter(state.applied))]
    assert results[0].outcome.status == "counted"
    assert "W" not in stored and len(stored["w"]) == 1
    text = orjson.dumps(stored).decode()
    assert text.count('"achievementName"') == 1


def test_prune_drops_old_entries_and_optionally_old_outputs() -> None:
    a = make(rule("order", goal=100))
    state = MemberState.empty()
    e1, e2 = event("order", datetime(2024, 1, 1, tzinfo=UTC)), event("order", datetime(2024, 1, 2, tzinfo=UTC))
    for e in (e1, e2):
        state = process_event(state, e, [a], MEMBER, store_code=STORE, tz=UTC_TZ, now=e.event_date).state
    now = datetime(2024, 1, 2, 12, tzinfo=UTC)
    assert prune(state, now=now, retention=timedelta(days=7)) is state
    kept = prune(state, now=now, retention=timedelta(hours=24))
    assert list(kept.applied) == [e2.custom_event_id]
    assert kept.progress == state.progress
    trimmed = prune(state, now=now, retention=timedelta(days=7), outputs_retention=timedelta(hours=1))
    assert set(trimmed.applied) == set(state.applied)
    again = process_event(trimmed, e1, [a], MEMBER, store_code=STORE, tz=UTC_TZ, now=now)
    assert again.duplicate and again.outcome == state.applied[e1.custom_event_id].outcome
    assert again.outputs == ()  # long since sent: counted once, nothing sent again
    assert MemberState.from_dict(orjson.loads(orjson.dumps(trimmed.to_dict()))) == trimmed
    # forgotten entirely: it would count again, which is why retention must cover redelivery
    gone = prune(state, now=now + timedelta(days=30), retention=timedelta(days=7))
    assert len(gone.applied) == 0


def test_duplicate_after_storage_round_trip_returns_identical_outputs() -> None:
    state, results = rich_state()
    stored = MemberState.from_dict(orjson.loads(orjson.dumps(state.to_dict())))
    assert set(stored.applied) == set(state.applied)
    first = results[2]
    cid = first.outputs[0].data["trigger"]["triggerId"]
    assert stored.applied[cid].outputs == first.outputs


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
        "prune",
        "member_achievements_view",
        "REASONS",
    }
    assert wanted <= set(domain.__all__)
    assert domain.REASONS == (
        "conditions_not_met",
        "outside_activity_window",
        "frequency_limit",
        "achievement_limit_reached",
        "member_inactive",
        "no_achievement_listens",
        "too_old",
        "unique_attribute_repeated",
        "achievement_inactive",
        "aggregation_value_invalid",
    )


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
