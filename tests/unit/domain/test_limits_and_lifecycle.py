"""Completion limits, activity windows, restarts, multi-rule completion, rules changes, and the
no-effect reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from loyalty_stream.domain import Achievement, MemberRef, member_achievements_view, rules_differ

from .helpers import MEMBER, UTC_TZ, WARSAW, event, feed, make, progress_of, rule, rules_of


def d(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=UTC_TZ)


def test_one_completion_per_calendar_month() -> None:
    a = make(rule("order", goal=2), limit={"value": 1, "interval": {"type": "calendarMonths", "value": 1}})
    dates = [d(1, 5), d(1, 6), d(1, 7), d(1, 31, 23), d(2, 1), d(2, 2), d(2, 3)]
    state, results = feed([event("order", x) for x in dates], [a])
    assert [r.outcome.reason for r in results] == [
        None,
        None,
        "achievement_limit_reached",
        "achievement_limit_reached",
        None,
        None,
        "achievement_limit_reached",
    ]
    completing = results[1].outputs[0].data["achievement"]
    assert (completing["memberProgress"]["completedCount"], completing["limitReached"]) == (1, True)
    assert progress_of(results[4], a)["completedCount"] == 1
    assert results[4].outputs[0].data["achievement"]["limitReached"] is False
    # GET: the limit is for the current wall-clock month
    (feb,) = member_achievements_view(state, [a], tz=UTC_TZ, now=d(2, 20))
    (mar,) = member_achievements_view(state, [a], tz=UTC_TZ, now=d(3, 1))
    assert (feb["limitReached"], mar["limitReached"]) == (True, False)
    assert mar["memberProgress"]["completedCount"] == 2


def test_limit_month_is_cut_in_store_time() -> None:
    a = make(rule("order", goal=1), limit={"value": 1, "interval": {"type": "calendarMonths", "value": 1}})
    # 23:30 UTC on 31 January is already February in Warsaw
    _, results = feed(
        [event("order", d(1, 31, 10)), event("order", datetime(2024, 1, 31, 23, 30, tzinfo=UTC_TZ))], [a], tz=WARSAW
    )
    assert [r.outcome.status for r in results] == ["counted", "counted"]


def test_limit_without_interval_is_for_ever() -> None:
    a = make(rule("order", goal=1), limit={"value": 2})
    _, results = feed([event("order", d(1, x)) for x in (1, 2, 3)] + [event("order", d(12, 1))], [a])
    assert [r.outcome.reason for r in results] == [None, None, "achievement_limit_reached", "achievement_limit_reached"]


def test_activity_window() -> None:
    a = make(
        rule("order", goal=10),
        activity={"operator": "is_between", "data": {"from": "2024-03-01T00:00:00", "to": "2024-03-31T23:59:59"}},
    )
    _, results = feed([event("order", x) for x in (d(2, 29), d(3, 1), d(3, 31, 23), d(4, 1))], [a], tz=WARSAW)
    # 31 March 23:00 UTC is 1 April 01:00 in Warsaw: outside
    assert [r.outcome.reason for r in results] == [
        "outside_activity_window",
        None,
        "outside_activity_window",
        "outside_activity_window",
    ]


def test_activity_on_weekdays() -> None:
    a = make(rule("order", goal=10), activity={"operator": "is_day_of_week", "data": ["1", "2", "3", "4", "5"]})
    _, results = feed([event("order", d(5, x)) for x in (3, 4, 5, 6)], [a])  # Fri, Sat, Sun, Mon
    assert [r.outcome.status for r in results] == ["counted", "no_effect", "no_effect", "counted"]


def test_restart_after_completion_carries_no_surplus() -> None:
    a = make(rule("spend", goal=100, aggregation={"type": "sum", "rule": "event.body.amount"}))
    _, results = feed([event("spend", d(1, x), {"amount": amt}) for x, amt in ((1, 70), (2, 80), (3, 30))], [a])
    assert [(rules_of(r, a)[0]["currentPeriodValue"], progress_of(r, a)["completedCount"]) for r in results] == [
        (70, 0),
        (0, 1),
        (30, 1),
    ]
    assert results[1].outputs[0].data["achievement"]["previousMemberProgress"]["rules"][0]["currentPeriodValue"] == 70


def test_multi_rule_completion_with_a_lapsing_periodic_rule() -> None:
    a = make(rule("login", period="day", consecutive=2), rule("order", goal=3))
    events = [
        event("login", d(1, 1)),
        event("login", d(1, 2)),  # the login rule is complete...
        event("order", d(1, 5)),
        event("order", d(1, 5)),
        event("order", d(1, 5)),  # ...but lapsed by day 5
        event("login", d(1, 6)),
        event("login", d(1, 7)),  # a fresh streak completes everything
        event("order", d(1, 8)),
    ]
    _, results = feed(events, [a])
    counted = [progress_of(r, a) for r in results]
    summary = [
        (p["completedCount"], [(x["currentPeriodValue"], x["completedConsecutivePeriods"]) for x in p["rules"]])
        for p in counted
    ]
    assert summary == [
        (0, [(1, 1), (0, 0)]),
        (0, [(1, 2), (0, 0)]),
        (0, [(0, 0), (1, 0)]),
        (0, [(0, 0), (2, 0)]),
        (0, [(0, 0), (3, 1)]),  # the order rule is at goal and stays complete
        (0, [(1, 1), (3, 1)]),
        (1, [(0, 0), (0, 0)]),  # both complete on day 7: completion, every rule restarts
        (1, [(0, 0), (1, 0)]),
    ]


def test_multi_rule_completes_while_the_streak_is_live() -> None:
    a = make(rule("login", period="day", consecutive=2), rule("order", goal=1))
    _, results = feed([event("login", d(1, 1)), event("login", d(1, 2)), event("order", d(1, 3))], [a])
    # day 2 is the previous day of day 3: the streak is still complete
    assert progress_of(results[-1], a)["completedCount"] == 1


def test_rules_version_bump_resets_progress_once() -> None:
    aid = "00000000-0000-4000-a000-00000000beef"
    v1 = make(rule("order", goal=5), achievement_id=aid, version=1)
    v2 = make(rule("order", goal=3), achievement_id=aid, version=2)
    state, first = feed([event("order", d(1, x)) for x in (1, 2)], [v1])
    assert [progress_of(r, v1)["reset"] for r in first] == [False, False]
    state, _ = feed([event("visit", d(1, 3))], [v2], state=state)
    state, results = feed([event("order", d(1, x)) for x in (4, 5, 6)], [v2], state=state)
    assert [progress_of(r, v2)["reset"] for r in results] == [True, False, False]
    bumped = results[0].outputs[0].data["achievement"]
    assert bumped["memberProgress"]["rules"][0]["currentPeriodValue"] == 1  # old progress dropped
    assert bumped["memberProgress"]["rules"][0]["achievementRuleId"] == v2.rules[0].rule_id
    assert bumped["previousMemberProgress"]["rules"][0]["currentPeriodValue"] == 0
    assert progress_of(results[-1], v2)["completedCount"] == 1
    assert results[0].outputs[0].message_id != first[0].outputs[0].message_id


def test_rules_version_bump_keeps_completions() -> None:
    aid = "00000000-0000-4000-a000-00000000cafe"
    v1 = make(rule("order", goal=1), achievement_id=aid, version=1, limit={"value": 1})
    v2 = make(rule("order", goal=2), achievement_id=aid, version=2, limit={"value": 1})
    state, _ = feed([event("order", d(1, 1))], [v1])
    _, (r,) = feed([event("order", d(1, 2))], [v2], state=state)
    assert r.outcome.reason == "achievement_limit_reached"  # a completion is never retracted


def test_inactive_achievement_and_inactive_member() -> None:
    off = make(rule("order"), active=False)
    on = make(rule("order"))
    _, (r,) = feed([event("order", d(1, 1))], [off])
    assert (r.outcome.status, r.outcome.reason) == ("no_effect", "achievement_inactive")
    _, (r,) = feed([event("order", d(1, 1))], [off, on])
    assert (r.outcome.status, r.outcome.changed, r.outcome.reasons) == (
        "counted",
        (on.achievement_id,),
        {off.achievement_id: "achievement_inactive"},
    )
    gone = MemberRef(MEMBER.customer_id, active=False)
    state, (r,) = feed([event("order", d(1, 1))], [on], member=gone)
    assert (r.outcome.status, r.outcome.reason, r.outputs) == ("no_effect", "member_inactive", ())
    assert state.progress == {}


def test_unique_attribute_per_bucket() -> None:
    a = make(rule("review", period="day", consecutive=2, goal=3, unique="productId"))
    events = [
        event("review", d(1, 1), {"productId": "A"}),
        event("review", d(1, 1, 13), {"productId": "A"}),
        event("review", d(1, 1, 14), {"productId": "B"}),
        event("review", d(1, 2), {"productId": "A"}),
        event("review", d(1, 2), {}),
        event("review", d(1, 2), {"productId": 7}),
        event("review", d(1, 2), {"productId": "7"}),
    ]
    _, results = feed(events, [a])
    assert [r.outcome.reason for r in results] == [
        None,
        "unique_attribute_repeated",
        None,
        None,
        "conditions_not_met",
        None,
        None,
    ]


def test_several_rules_of_one_achievement_may_listen_to_one_event() -> None:
    a = make(
        rule("order", goal=2),
        rule("order", goal=1, conditions=[{"attribute": "event.body.total", "operator": "is_greater", "data": 100}]),
    )
    _, results = feed([event("order", d(1, 1), {"total": 10}), event("order", d(1, 2), {"total": 200})], [a])
    assert [x["currentPeriodValue"] for x in rules_of(results[0], a)] == [1, 0]
    assert progress_of(results[1], a)["completedCount"] == 1


def test_reason_when_no_rule_admits() -> None:
    a = make(rule("order", conditions=[{"attribute": "event.body.total", "operator": "is_greater", "data": 100}]))
    _, (r,) = feed([event("order", d(1, 1), {"total": 1})], [a])
    assert (r.outcome.status, r.outcome.reason, r.outcome.reasons, r.outcome.changed) == (
        "no_effect",
        "conditions_not_met",
        {a.achievement_id: "conditions_not_met"},
        (),
    )


def test_other_stores_achievements_are_ignored() -> None:
    a = make(rule("order"))
    from loyalty_stream.domain import MemberState, process_event

    r = process_event(
        MemberState.empty(), event("order", d(1, 1)), [a], MEMBER, store_code="OTHER", tz=UTC_TZ, now=d(1, 1)
    )
    assert r.outcome.reason == "no_achievement_listens"


def test_frequency_limit_every_two_days() -> None:
    a = make(rule("visit", goal=100, limit={"value": 2, "interval": {"type": "calendarDays", "value": 2}}))
    start = d(1, 1)
    _, results = feed([event("visit", start + timedelta(hours=h)) for h in (0, 1, 2, 24, 48)], [a])
    # intervals are aligned two-day calendar blocks: the 4th event shares the block of the first three
    reasons = [r.outcome.reason for r in results]
    assert reasons.count("frequency_limit") >= 1
    assert reasons[:3] == [None, None, "frequency_limit"]


def test_progress_is_kept_across_a_conditions_edit_and_reset_across_a_period_change() -> None:
    # Open Loyalty: a rule's trigger conditions can be edited without losing members' progress; its period
    # cannot. The API bumps rulesVersion exactly when rules_differ says so (routes/achievements.py).
    aid = "00000000-0000-4000-a000-0000000000aa"
    web = [{"attribute": "event.body.channel", "operator": "is_equal", "data": "web"}]
    app = [{"attribute": "event.body.channel", "operator": "is_equal", "data": "app"}]
    v1 = make(rule("order", goal=3, conditions=web), achievement_id=aid)
    state, _ = feed([event("order", d(3, 2), {"channel": "web"}), event("order", d(3, 3), {"channel": "web"})], [v1])

    def saved(old: Achievement, *rules: dict[str, Any]) -> Achievement:
        candidate = make(*rules, achievement_id=aid, version=old.rules_version)
        bump = rules_differ(old, candidate)
        return make(*rules, achievement_id=aid, version=old.rules_version + 1) if bump else candidate

    edited = saved(v1, rule("order", goal=3, conditions=app))
    assert edited.rules_version == 1 and edited.rules[0].rule_id == v1.rules[0].rule_id
    state, results = feed([event("order", d(3, 4), {"channel": "web"}), event("order", d(3, 5), {"channel": "app"})],
                          [edited], state=state)  # fmt: skip
    assert [r.outcome.status for r in results] == ["no_effect", "counted"]  # the new conditions apply...
    assert progress_of(results[1], edited)["completedCount"] == 1  # ...to the progress kept: 2 + 1 = 3

    weekly = saved(edited, rule("order", goal=3, conditions=app, period="week"))
    assert weekly.rules_version == 2
    _, results = feed([event("order", d(3, 6), {"channel": "app"})], [weekly], state=state)
    assert rules_of(results[0], weekly)[0]["currentPeriodValue"] == 1  # counted from zero again
