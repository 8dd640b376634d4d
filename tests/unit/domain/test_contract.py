"""Outputs and views validate against the Open Loyalty contract (webhooks section, components)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

import pytest

from loyalty_stream.domain import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    MemberRef,
    ProcessResult,
    WebhookOutput,
    member_achievements_view,
)

from . import contract
from .helpers import WARSAW, event, feed, make, rule

MEMBER = MemberRef(
    "00000000-0000-4000-8000-0000000000aa", email="a@example.com", phone="+48123456789", loyalty_card_number="CARD-1"
)


def scenario() -> tuple[list, list[ProcessResult]]:
    achievements = [
        make(rule("order", goal=2.5, aggregation={"type": "sum", "rule": "event.body.total"}, name="Spend")),
        make(
            rule("login", period="last_day", value=2),
            rule("order", period="week", consecutive=2, goal=1),
            limit={"value": 1, "interval": {"type": "calendarWeeks", "value": 1}},
            name="Mixed",
        ),
    ]
    start = datetime(2024, 3, 29, 21, tzinfo=WARSAW)
    events = []
    for i in range(6):
        when = start + timedelta(days=i)
        events.append(event("login", when, event_id=f"login-{i}"))
        events.append(event("order", when, {"total": 1.25}, anonymous=True))
    _, results = feed(events, achievements, tz=WARSAW, member=MEMBER)
    return achievements, results


def outputs() -> list[WebhookOutput]:
    return [o for r in scenario()[1] for o in r.outputs]


def test_scenario_produces_both_webhooks() -> None:
    names = {o.event_name for o in outputs()}
    assert names == {PROGRESS_CHANGED, ACHIEVEMENTS_PROCESSED}


@pytest.mark.parametrize("name", [PROGRESS_CHANGED, ACHIEVEMENTS_PROCESSED])
def test_webhook_bodies_validate(name: str) -> None:
    v = contract.webhook(name)
    checked = 0
    for o in outputs():
        if o.event_name != name:
            continue
        body = json.loads(json.dumps(o.envelope() | {"requestId": str(uuid.uuid4())}))
        assert contract.errors(v, body) == []
        contract.assert_datetimes_have_offsets(body)
        uuid.UUID(body["messageId"])
        assert datetime.fromisoformat(body["createdAt"]).utcoffset() == timedelta(0)
        checked += 1
    assert checked


def test_progress_payload_shape() -> None:
    for o in outputs():
        if o.event_name != PROGRESS_CHANGED:
            continue
        data = o.data
        assert set(data) == {"member", "achievement", "triggerType", "trigger"}
        assert data["member"] == {
            "customerId": MEMBER.customer_id,
            "email": MEMBER.email,
            "phone": MEMBER.phone,
            "loyaltyCardNumber": MEMBER.loyalty_card_number,
        }
        ach = data["achievement"]
        assert set(ach) == {
            "achievementId",
            "achievementName",
            "limitReached",
            "manuallyEdited",
            "memberProgress",
            "previousMemberProgress",
        }
        assert ach["manuallyEdited"] is False
        assert set(ach["memberProgress"]) == {"completedCount", "reset", "rules"}
        assert set(ach["previousMemberProgress"]) == {"completedCount", "rules"}
        for r in ach["memberProgress"]["rules"] + ach["previousMemberProgress"]["rules"]:
            assert set(r) == {
                "achievementRuleId",
                "periodGoal",
                "currentPeriodValue",
                "periodType",
                "consecutivePeriods",
                "completedConsecutivePeriods",
                "type",
                "trigger",
                "translations",
            }
            goal = r["periodGoal"]
            assert isinstance(goal, int) or (isinstance(goal, float) and not goal.is_integer())
        trigger = data["trigger"]
        assert set(trigger) == {"triggerId", "type", "createdAt", "eventDate", "eventId"}
        # the client's eventId when it sent one, else the customEventId
        expected = trigger["eventId"] if trigger["eventId"].startswith("login-") else trigger["triggerId"]
        assert trigger["eventId"] == expected


def test_fractional_goal_is_a_number_and_whole_goal_an_integer() -> None:
    goals = {
        r["periodGoal"]
        for o in outputs()
        if o.event_name == PROGRESS_CHANGED
        for r in o.data["achievement"]["memberProgress"]["rules"]
    }
    assert goals == {2.5, 1}
    assert all(type(g) is (float if g == 2.5 else int) for g in goals)


def test_member_achievements_view_validates() -> None:
    achievements, results = scenario()
    state = results[-1].state
    items = member_achievements_view(state, achievements, tz=WARSAW, now=datetime(2024, 4, 4, 12, tzinfo=WARSAW))
    v = contract.component("MemberAchievement")
    assert len(items) == 2
    for item in items:
        assert contract.errors(v, json.loads(json.dumps(item))) == []
        assert set(item) == {
            "achievementId",
            "achievementName",
            "achievementDescription",
            "limitReached",
            "memberProgress",
        }
