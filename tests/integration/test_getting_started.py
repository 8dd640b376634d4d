"""Open Loyalty's getting-started flow through real processes: broker, API, processor, sender, receiver."""

from __future__ import annotations

import httpx

from tests.support.contract import response_errors, webhook_errors
from tests.support.flows import getting_started, login_event, post


def test_getting_started_delivers_progress_webhook(stack, receiver) -> None:
    s = stack()
    with httpx.Client(base_url=s.api, timeout=30) as client:
        ids = getting_started(client, receiver.url())
        accepted = post(client, "/api/DEFAULT/customEvent", login_event(event_id="login-1"))
        assert response_errors("/api/{storeCode}/customEvent", "post", 200, accepted) == []

    received = receiver.wait_for(lambda r: len(r) >= 1, timeout=60)
    hook = received[0]
    body = hook.json()
    assert hook.headers["x-receiver-key"] == "secret-1"
    assert body["eventName"] == "MemberAchievementProgressWasChanged"
    assert body["storeCode"] == "DEFAULT"
    assert webhook_errors("MemberAchievementProgressWasChanged", body) == []
    data = body["data"]
    assert data["member"]["customerId"] == ids["customerId"]
    assert data["member"]["email"] == "john.smith@example.com"
    assert data["achievement"]["achievementId"] == ids["achievementId"]
    assert data["trigger"]["triggerId"] == accepted["customEventId"]
    assert data["trigger"]["eventId"] == "login-1"
    rule = data["achievement"]["memberProgress"]["rules"][0]
    assert rule["currentPeriodValue"] == 1
    assert rule["completedConsecutivePeriods"] == 1
    assert data["achievement"]["previousMemberProgress"]["rules"][0]["currentPeriodValue"] == 0


def test_same_event_id_is_counted_once(stack, receiver) -> None:
    s = stack()
    with httpx.Client(base_url=s.api, timeout=30) as client:
        getting_started(client, receiver.url())
        first = post(client, "/api/DEFAULT/customEvent", login_event(event_id="retry-me"))
        again = post(client, "/api/DEFAULT/customEvent", login_event(event_id="retry-me"))
        assert first == again
        # A different event afterwards proves the pipeline has moved past the duplicate.
        post(client, "/api/DEFAULT/customEvent", login_event(event_id="another-day"))

    received = receiver.wait_for(lambda r: len(r) >= 1, timeout=60)
    ids = {r.json()["data"]["trigger"]["triggerId"] for r in received}
    assert first["customEventId"] in ids
    # The duplicate re-sends the first application's message (same messageId), never a second count.
    progress = [
        r.json()["data"]["achievement"]["memberProgress"]["rules"][0]["currentPeriodValue"]
        for r in received
        if r.json()["data"]["trigger"]["triggerId"] == first["customEventId"]
    ]
    assert set(progress) == {1}
