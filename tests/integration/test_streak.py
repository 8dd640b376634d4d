"""Open Loyalty's getting-started achievement over the real pipeline: a login a day for 7 days completes it,
with a progress webhook each day, the last one with completedCount 1 and limitReached true (issue 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.support.contract import webhook_errors
from tests.support.flows import getting_started, login_event, post


def test_seven_day_login_streak_completes(stack, receiver) -> None:
    s = stack()
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    if today + timedelta(hours=1) > datetime.now(UTC):  # the second login, an hour later, must not be in the future
        today -= timedelta(days=1)
    days = [today - timedelta(days=6 - n) for n in range(7)]
    with httpx.Client(base_url=s.api, timeout=30) as client:
        ids = getting_started(client, receiver.url())
        triggers = [
            post(client, "/api/DEFAULT/customEvent", login_event(when=day, event_id=f"login-{n}"))["customEventId"]
            for n, day in enumerate(days)
        ]
        # a second login on the last day is "no effect: frequency limit": no webhook
        post(client, "/api/DEFAULT/customEvent", login_event(when=days[-1] + timedelta(hours=1), event_id="again"))

    received = receiver.wait_for(lambda r: len(r) >= 7, timeout=90)
    bodies = [r.json() for r in received]
    for body in bodies:
        assert body["eventName"] == "MemberAchievementProgressWasChanged"
        assert webhook_errors("MemberAchievementProgressWasChanged", body) == []
        assert body["data"]["achievement"]["achievementId"] == ids["achievementId"]
    by_trigger = {b["data"]["trigger"]["triggerId"]: b["data"] for b in bodies}
    assert set(by_trigger) == set(triggers)
    streaks = [
        by_trigger[t]["achievement"]["memberProgress"]["rules"][0]["completedConsecutivePeriods"] for t in triggers[:-1]
    ]
    assert streaks == [1, 2, 3, 4, 5, 6]
    last = by_trigger[triggers[-1]]["achievement"]
    assert last["memberProgress"]["completedCount"] == 1
    assert last["limitReached"] is True
    assert last["previousMemberProgress"]["completedCount"] == 0
    assert len({b["messageId"] for b in bodies}) == len(bodies)
