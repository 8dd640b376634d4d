"""Open Loyalty's own examples, end to end through process_event."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

from loyalty_stream.domain import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    member_achievements_view,
    parse_achievement,
)

from .helpers import MEMBER, STORE, UTC_TZ, WARSAW, event, feed, make, progress_of, rule, rules_of, workout_rule
from .test_parsing import GETTING_STARTED


def test_getting_started_login_streak_exactly_as_documented() -> None:
    a = parse_achievement(
        copy.deepcopy(GETTING_STARTED), achievement_id="3f1b6f0e-8d1c-4c3e-9d6e-0a0b0c0d0e0f", store_code=STORE
    )
    start = datetime(2024, 5, 1, 8, 0, tzinfo=WARSAW)
    logins = [event("app_login", start + timedelta(days=d)) for d in range(7)]
    state, results = feed(logins, [a], tz=WARSAW)
    # a progress webhook every day; the 7th shows the completion and the limit reached
    for d, r in enumerate(results):
        assert r.outcome.status == "counted"
        assert [o.event_name for o in r.outputs] == [PROGRESS_CHANGED, ACHIEVEMENTS_PROCESSED]
        rule_progress = rules_of(r, a)[0]
        if d < 6:
            assert rule_progress["completedConsecutivePeriods"] == d + 1
            assert progress_of(r, a)["completedCount"] == 0
            assert r.outputs[0].data["achievement"]["limitReached"] is False
    last = results[-1].outputs[0].data["achievement"]
    assert last["memberProgress"]["completedCount"] == 1
    assert last["limitReached"] is True
    assert last["memberProgress"]["rules"][0]["completedConsecutivePeriods"] == 0  # restarted
    assert last["previousMemberProgress"]["completedCount"] == 0
    assert last["previousMemberProgress"]["rules"][0]["completedConsecutivePeriods"] == 6

    # an 8th day: the limit of one completion is reached
    state, (eighth,) = feed([event("app_login", start + timedelta(days=7))], [a], state=state, tz=WARSAW)
    assert (eighth.outcome.status, eighth.outcome.reason, eighth.outputs) == (
        "no_effect",
        "achievement_limit_reached",
        (),
    )
    (item,) = member_achievements_view(state, [a], tz=WARSAW, now=start + timedelta(days=8))
    assert item["limitReached"] is True and item["memberProgress"]["completedCount"] == 1


def test_getting_started_second_login_the_same_day_is_frequency_limited() -> None:
    a = parse_achievement(
        copy.deepcopy(GETTING_STARTED), achievement_id="3f1b6f0e-8d1c-4c3e-9d6e-0a0b0c0d0e0f", store_code=STORE
    )
    morning = datetime(2024, 5, 1, 8, 0, tzinfo=WARSAW)
    _, (first, second) = feed(
        [event("app_login", morning), event("app_login", morning + timedelta(hours=12))], [a], tz=WARSAW
    )
    assert first.outcome.status == "counted"
    assert (second.outcome.status, second.outcome.reason) == ("no_effect", "frequency_limit")
    assert second.outcome.reasons == {a.achievement_id: "frequency_limit"}
    assert second.outputs == ()


def test_log_in_seven_days_in_a_row() -> None:
    a = make(
        rule(
            "login",
            period="day",
            consecutive=7,
            goal=1,
            limit={"value": 1, "interval": {"type": "calendarDays", "value": 1}},
        )
    )
    start = datetime(2024, 6, 1, 9, tzinfo=UTC_TZ)
    events = []
    for d in range(7):
        events += [event("login", start + timedelta(days=d)), event("login", start + timedelta(days=d, hours=3))]
    _, results = feed(events, [a])
    assert [r.outcome.reason for r in results] == [None, "frequency_limit"] * 7
    assert progress_of(results[-2], a)["completedCount"] == 1


def test_300_workout_minutes_a_week_for_4_weeks() -> None:
    a = make(workout_rule({"operator": "is_not_equal", "data": "stretching"}))
    monday = datetime(2024, 4, 1, 7, tzinfo=UTC_TZ)  # a Monday
    events = []
    for week in range(4):
        for session in range(3):
            events.append(
                event("workout", monday + timedelta(weeks=week, days=session * 2), {"minutes": 100, "kind": "run"})
            )
        events.append(event("workout", monday + timedelta(weeks=week, days=6), {"minutes": 500, "kind": "stretching"}))
    events.insert(1, event("workout", monday, {"minutes": "lots", "kind": "run"}))
    _, results = feed(events, [a])
    reasons = [r.outcome.reason for r in results]
    assert reasons[1] == "aggregation_value_invalid"
    assert reasons.count("conditions_not_met") == 4
    counted = [progress_of(r, a) for r in results if r.outcome.status == "counted"]
    assert [c["rules"][0]["currentPeriodValue"] for c in counted[:3]] == [100, 200, 300]
    assert [c["rules"][0]["completedConsecutivePeriods"] for c in counted[2::3]] == [1, 2, 3, 0]
    assert counted[-1]["completedCount"] == 1


def test_five_orders() -> None:
    a = make(rule("order", goal=5))
    _, results = feed([event("order", datetime(2024, 1, d, tzinfo=UTC_TZ)) for d in range(1, 7)], [a])
    counts = [(rules_of(r, a)[0]["currentPeriodValue"], progress_of(r, a)["completedCount"]) for r in results]
    assert counts == [(1, 0), (2, 0), (3, 0), (4, 0), (0, 1), (1, 1)]
    assert rules_of(results[0], a)[0]["periodType"] == "overall"


def test_an_event_nobody_listens_to() -> None:
    a = make(rule("order"))
    _, (r,) = feed([event("page_view", datetime(2024, 1, 1, tzinfo=UTC_TZ))], [a])
    assert (r.outcome.status, r.outcome.reason, r.outcome.reasons, r.outputs) == (
        "no_effect",
        "no_achievement_listens",
        {},
        (),
    )


def test_member_data_in_the_webhook() -> None:
    a = make(rule("order"))
    _, (r,) = feed([event("order", datetime(2024, 1, 1, tzinfo=UTC_TZ), event_id="client-1")], [a])
    data = r.outputs[0].data
    assert data["member"] == {"customerId": MEMBER.customer_id, "email": MEMBER.email}
    assert data["trigger"]["eventId"] == "client-1"
    assert data["triggerType"] == "custom_event"
    assert r.outputs[1].data == [data]
