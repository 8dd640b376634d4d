"""Properties over generated event streams: arrival order, one outcome per event, and state that survives
JSON. Duplicates are the processor's: tests/unit/test_dedup.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_stream.domain import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    REASONS,
    Achievement,
    Event,
    MemberState,
    process_event,
)
from loyalty_stream.domain.streaks import anchor_streak

from .helpers import MEMBER, STORE, WARSAW, event, make, rule, transaction_event, tx_rule

START = datetime(2024, 3, 1, tzinfo=UTC)

# Achievements that cannot complete or hit a limit within 40 days of events: every order of
# arrival must end with the same buckets and streaks.
QUIET = [
    make(rule("a", goal=10**9, aggregation={"type": "sum", "rule": "event.body.n"})),
    make(rule("a", period="day", consecutive=100, goal=2), rule("b", period="week", consecutive=10)),
    make(rule("b", period="last_day", value=60, unique="u")),
    make(rule("a", period="month", consecutive=5, goal=1.5, aggregation={"type": "sum", "rule": "event.body.n"})),
    make(
        rule(
            "b",
            period="year",
            consecutive=3,
            unique="u",
            conditions=[{"attribute": "event.body.n", "operator": "is_greater", "data": 0}],
        )
    ),
    make(rule("a", period="day", consecutive=3, goal=10**6, aggregation={"type": "sum", "rule": "event.body.n"})),
    # transactions: a spend streak beside a custom-event rule, and items' categories, unique skus
    make(
        tx_rule(period="week", consecutive=10, goal=10**9, aggregation={"rule": "transaction.grossValue"}),
        rule("a", period="week", consecutive=10, goal=10**6),
    ),
    make(
        tx_rule(
            period="day",
            consecutive=100,
            goal=2,
            unique="items.sku",
            conditions=[{"attribute": "transaction.items.category", "operator": "is_equal", "data": "x"}],
        )
    ),
]

# Achievements that complete, restart and hit limits: for duplicates and outcome properties.
BUSY = [
    *QUIET,
    make(rule("a", goal=3), limit={"value": 2, "interval": {"type": "calendarWeeks", "value": 1}}),
    make(
        rule("b", period="last_day", value=2, limit={"value": 1, "interval": {"type": "calendarDays", "value": 1}}),
        limit={"value": 3},
    ),
    make(
        rule("a", period="day", consecutive=2, goal=2, unique="u"),
        rule("b", goal=2),
        activity={"operator": "is_day_of_week", "data": [1, 2, 3, 4, 5]},
    ),
    make(rule("b", goal=1), active=False),
]

values = st.one_of(st.integers(-5, 50), st.sampled_from([0.1, 0.2, 2.5, "x", None, True]))


@st.composite
def events(draw: Any, max_size: int = 14) -> list[Event]:
    items = draw(
        st.lists(
            st.tuples(
                st.integers(0, 40),
                st.integers(0, 23),
                st.sampled_from(["a", "b", "c", "t"]),
                values,
                st.sampled_from(["p", "q", "r", 1]),
            ),
            min_size=1,
            max_size=max_size,
        )
    )
    out = []
    for d, h, kind, n, u in items:
        when = START + timedelta(days=d, hours=h)
        if kind == "t":  # a transaction of one item (its gross value may be no number: then it is not summed)
            item = {"sku": u, "grossValue": n, "category": "x" if h % 2 else "y", "quantity": 1}
            out.append(transaction_event(when, {"documentType": "sell", "grossValue": n, "items": [item]}))
            continue
        body: dict[str, Any] = {"u": u}
        if n is not None:
            body["n"] = n
        out.append(event(kind, when, body))
    return out


def run(
    stream: list[Event], achievements: list[Achievement], state: MemberState | None = None
) -> tuple[MemberState, list[Any]]:
    state = state or MemberState.empty()
    results = []
    for e in stream:
        r = process_event(state, e, achievements, MEMBER, store_code=STORE, tz=WARSAW, now=e.created_at)
        state = r.state
        results.append(r)
    return state, results


def streaks(state: MemberState, achievements: list[Achievement]) -> dict[str, list[tuple[int | None, int]]]:
    return {
        a.achievement_id: [
            anchor_streak(r, p) for r, p in zip(a.rules, state.progress[a.achievement_id].rules, strict=True)
        ]
        for a in achievements
        if a.achievement_id in state.progress
    }


slow = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@slow
@given(st.data())
def test_arrival_order_does_not_change_buckets_or_streaks(data: Any) -> None:
    stream = data.draw(events())
    shuffled = data.draw(st.permutations(stream))
    first, _ = run(stream, QUIET)
    second, results = run(shuffled, QUIET)
    assert all(p.completed_count == 0 for p in second.progress.values())
    assert first.progress == second.progress
    assert streaks(first, QUIET) == streaks(second, QUIET)
    assert all(r.outcome.reason != "achievement_limit_reached" for r in results)


@slow
@given(events(max_size=20))
def test_every_event_has_exactly_one_outcome(stream: list[Event]) -> None:
    _, results = run(stream, BUSY)
    assert len(results) == len(stream)
    for e, r in zip(stream, results, strict=True):
        o = r.outcome
        listening = {a.achievement_id for a in BUSY if a.listens_to(e.type)}
        assert o.status in ("counted", "no_effect")
        progress = [x for x in r.outputs if x.event_name == PROGRESS_CHANGED]
        if o.status == "counted":
            assert o.reason is None and o.changed
            assert [x.achievement_id for x in progress] == list(o.changed)
            assert [x.event_name for x in r.outputs[-1:]] == [ACHIEVEMENTS_PROCESSED]
            assert r.outputs[-1].data == [x.data for x in progress]
            assert len(r.outputs) == len(o.changed) + 1
        else:
            assert o.reason in REASONS and not o.changed and r.outputs == ()
        if listening:
            assert set(o.changed) | set(o.reasons) == listening
            assert not set(o.changed) & set(o.reasons)
            assert set(o.reasons.values()) <= set(REASONS)
        else:
            assert o.reason == "no_achievement_listens"
        assert len({x.message_id for x in r.outputs}) == len(r.outputs)


@slow
@given(events(max_size=20))
def test_state_survives_json(stream: list[Event]) -> None:
    state, _ = run(stream, BUSY)
    raw = state.to_dict()
    via_orjson = MemberState.from_dict(orjson.loads(orjson.dumps(raw)))
    via_json = MemberState.from_dict(json.loads(json.dumps(raw)))
    assert via_orjson == state
    assert via_json == state
    assert via_orjson.to_dict() == raw
    # and it carries on exactly as the original would
    more = [event("a", START + timedelta(days=41), {"n": 3, "u": "p"}), event("b", START + timedelta(days=41))]
    assert run(more, BUSY, via_orjson)[0] == run(more, BUSY, state)[0]
