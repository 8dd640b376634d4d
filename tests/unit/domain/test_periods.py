"""Periods cut in store time: overall, day, week (ISO), month, year, last_day; streaks, lapses,
the kept window ("too old") and DST days."""

from __future__ import annotations

from datetime import datetime

import pytest

from loyalty_stream.domain import member_achievements_view, parse_event_date

from .helpers import UTC_TZ, WARSAW, event, feed, make, progress_of, rule, rules_of


def day(d: int, hour: int = 12, month: int = 5, year: int = 2024, tz: object = UTC_TZ) -> datetime:
    return datetime(year, month, d, hour, tzinfo=tz)  # type: ignore[arg-type]


def streaks(results: list, a: object) -> list[tuple[object, int, int]]:
    """(currentPeriodValue, completedConsecutivePeriods, completedCount) after each counted event."""
    out = []
    for r in results:
        if r.outcome.status == "counted":
            p = progress_of(r, a)
            out.append(
                (p["rules"][0]["currentPeriodValue"], p["rules"][0]["completedConsecutivePeriods"], p["completedCount"])
            )
        else:
            out.append(r.outcome.reason)
    return out


def test_overall_counts_to_goal_then_restarts() -> None:
    a = make(rule("order", goal=3))
    _, results = feed([event("order", day(d)) for d in (1, 20, 3, 9)], [a])
    assert streaks(results, a) == [(1, 0, 0), (2, 0, 0), (0, 0, 1), (1, 0, 1)]


@pytest.mark.parametrize(
    ("period", "consecutive", "dates", "expected"),
    [
        # day: three days in a row complete it; a gap restarts the streak at the new day
        ("day", 3, [day(1), day(2), day(4), day(5), day(6)], [(1, 1, 0), (1, 2, 0), (1, 1, 0), (1, 2, 0), (0, 0, 1)]),
        # week: ISO weeks start on Monday; Sunday 5 May and Monday 6 May are two weeks
        ("week", 2, [day(29, month=4), day(5), day(6)], [(1, 1, 0), (2, 1, 0), (0, 0, 1)]),
        # month
        (
            "month",
            2,
            [day(31, month=1), day(29, month=2), day(15, month=4), day(1, month=5)],
            [(1, 1, 0), (0, 0, 1), (1, 1, 1), (0, 0, 2)],
        ),
        # year: 31 Dec and 1 Jan are consecutive years
        ("year", 2, [day(31, month=12, year=2023), day(1, month=1)], [(1, 1, 0), (0, 0, 1)]),
    ],
)
def test_periodic_streaks(period: str, consecutive: int, dates: list[datetime], expected: list) -> None:
    a = make(rule("visit", period=period, consecutive=consecutive))
    _, results = feed([event("visit", d) for d in dates], [a])
    assert streaks(results, a) == expected


def test_last_day_is_a_daily_streak_of_n() -> None:
    a = make(rule("login", period="last_day", value=3, consecutive=5))  # consecutive is ignored
    _, results = feed([event("login", day(d)) for d in (1, 2, 3)], [a])
    assert streaks(results, a) == [(1, 1, 0), (1, 2, 0), (0, 0, 1)]
    assert rules_of(results[0], a)[0]["consecutivePeriods"] == 3


def test_goal_per_period_and_lapsed_streak_reads_zero() -> None:
    a = make(rule("visit", period="day", consecutive=3, goal=2))
    _, results = feed([event("visit", day(d)) for d in (1, 1, 2, 2, 5)], [a])
    # day 5 holds 1 (< goal 2), and the latest goal-reaching day (2) is older than day 4
    assert streaks(results, a) == [(1, 0, 0), (2, 1, 0), (1, 1, 0), (2, 2, 0), (1, 0, 0)]


def test_previous_day_keeps_the_streak_alive() -> None:
    a = make(rule("visit", period="day", consecutive=3, goal=2))
    _, results = feed([event("visit", day(d)) for d in (1, 1, 2)], [a])
    # day 2 has 1 of 2, but day 1 reached the goal and is the previous day: streak 1
    assert streaks(results, a)[-1] == (1, 1, 0)


def test_out_of_order_arrival_completes_when_the_gap_is_filled() -> None:
    a = make(rule("visit", period="day", consecutive=3))
    _, results = feed([event("visit", day(d)) for d in (3, 1, 2)], [a])
    assert streaks(results, a) == [(1, 1, 0), (1, 1, 0), (0, 0, 1)]


def test_events_older_than_the_kept_window_are_too_old() -> None:
    a = make(rule("visit", period="day", consecutive=2))  # keeps 3 days: 8, 9, 10
    _, results = feed([event("visit", day(d)) for d in (10, 7, 8)], [a])
    assert [r.outcome.reason for r in results] == [None, "too_old", None]
    assert results[1].outcome.reasons == {a.achievement_id: "too_old"}


def test_last_day_keeps_n_days() -> None:
    a = make(rule("visit", period="last_day", value=3, goal=2))
    _, results = feed([event("visit", day(d)) for d in (10, 8, 7)], [a])
    assert [r.outcome.reason for r in results] == [None, None, "too_old"]


def test_after_completion_only_later_periods_count() -> None:
    a = make(rule("visit", period="day", consecutive=2, goal=1))
    _, results = feed([event("visit", day(d)) for d in (1, 2, 2, 1, 3)], [a])
    assert [r.outcome.reason for r in results] == [None, None, "too_old", "too_old", None]
    assert streaks(results, a)[-1] == (1, 1, 1)


def test_overall_is_never_too_old() -> None:
    a = make(rule("order", goal=10))
    _, results = feed([event("order", day(1, year=y)) for y in (2024, 1999, 2030)], [a])
    assert [r.outcome.status for r in results] == ["counted"] * 3


def test_buckets_are_cut_in_store_time() -> None:
    a = make(rule("visit", period="day", consecutive=2))
    # 23:30 UTC on 30 April is 01:30 on 1 May in Warsaw: both events are the same local day
    events = [
        event("visit", datetime(2024, 4, 30, 23, 30, tzinfo=UTC_TZ)),
        event("visit", datetime(2024, 5, 1, 20, 0, tzinfo=WARSAW)),
    ]
    _, results = feed(events, [a], tz=WARSAW)
    assert streaks(results, a) == [(1, 1, 0), (2, 1, 0)]
    _, in_utc = feed(events, [a], tz=UTC_TZ)
    assert streaks(in_utc, a)[-1] == (0, 0, 1)  # two UTC days in a row


def test_streak_across_both_dst_changes_in_warsaw() -> None:
    a = make(rule("login", period="last_day", value=3))
    spring = [
        parse_event_date(t, WARSAW) for t in ("2024-03-30T23:30:00", "2024-03-31T02:30:00", "2024-04-01T00:15:00")
    ]
    _, results = feed([event("login", d) for d in spring], [a], tz=WARSAW)
    assert streaks(results, a) == [(1, 1, 0), (1, 2, 0), (0, 0, 1)]
    # the non-existent 02:30 was read as 03:30 CEST, still on 31 March
    assert results[1].outputs[0].data["trigger"]["eventDate"] == "2024-03-31T03:30:00+02:00"
    autumn = [
        parse_event_date(t, WARSAW) for t in ("2024-10-26T23:59:59", "2024-10-27T02:30:00", "2024-10-28T00:00:00")
    ]
    _, results = feed([event("login", d) for d in autumn], [a], tz=WARSAW)
    assert streaks(results, a) == [(1, 1, 0), (1, 2, 0), (0, 0, 1)]
    assert results[1].outputs[0].data["trigger"]["eventDate"] == "2024-10-27T02:30:00+02:00"


def test_repeated_hour_is_one_calendar_hour_for_frequency_limits() -> None:
    a = make(rule("visit", goal=10, limit={"value": 1, "interval": {"type": "calendarHours", "value": 1}}))
    first = datetime(2024, 10, 27, 2, 10, tzinfo=WARSAW, fold=0)  # 00:10 UTC
    second = datetime(2024, 10, 27, 2, 50, tzinfo=WARSAW, fold=1)  # 01:50 UTC, same wall hour
    later = datetime(2024, 10, 27, 3, 5, tzinfo=WARSAW)
    _, results = feed([event("visit", d) for d in (first, second, later)], [a], tz=WARSAW)
    assert [r.outcome.reason for r in results] == [None, "frequency_limit", None]


def test_get_reports_progress_as_of_now() -> None:
    a = make(rule("visit", period="day", consecutive=5, goal=1))
    state, _ = feed([event("visit", day(d)) for d in (1, 2, 3)], [a])

    def view(now: datetime) -> tuple[object, int]:
        (item,) = member_achievements_view(state, [a], tz=UTC_TZ, now=now)
        r = item["memberProgress"]["rules"][0]
        return r["currentPeriodValue"], r["completedConsecutivePeriods"]

    assert view(day(3, 18)) == (1, 3)
    assert view(day(4, 9)) == (0, 3)  # the streak can still go on today
    assert view(day(5, 9)) == (0, 0)  # lapsed: the last visit is older than yesterday
