"""AchievementCreated/Updated payloads against the contract's webhooks section, and PATCH merge semantics."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import orjson
import pytest

from ingest_api.errors import BadRequest
from ingest_api.routes.achievements import achievement_message, merge_patch
from loyalty_stream.domain import achievement_view, achievement_webhook_data, parse_achievement, rules_differ
from tests.support.contract import response_errors, webhook_errors
from tests.support.flows import LOGIN_STREAK
from webhook_sender.envelope import envelope as webhook_body

WORKOUTS = {
    "active": True,
    "translations": {
        "en": {"name": "300 minutes a week", "description": "for 4 weeks"},
        "pl": {"name": "300 minut tygodniowo"},
        "de": {"name": "300 Minuten"},
    },
    "activity": {"operator": "is_between", "data": {"from": "2024-01-01 00:00", "to": "2024-12-31 23:59"}},
    "limit": {"value": 2, "interval": {"type": "calendarMonths", "value": 1}},
    "rules": [
        {
            "trigger": "custom_event",
            "type": "direct",
            "event": "workout",
            "conditions": [
                {"attribute": "event.body.minutes", "operator": "is_number_between", "data": [10, 240]},
                {"attribute": "event.body.kind", "operator": "is_one_of", "data": ["run", "swim"]},
                {"attribute": "event.body.indoor", "operator": "is_equal", "data": False},
                {"attribute": "event.eventDate", "operator": "is_day_of_week", "data": 1},
            ],
            "aggregation": {"type": "sum", "rule": "event.body.minutes"},
            "completeRule": {
                "periodGoal": 300,
                "period": {"type": "week", "consecutive": 4},
                "uniqueAttribute": "session",
            },
            "translations": {"en": {"name": "weekly minutes", "description": "sum"}},
        },
        {
            "trigger": "custom_event",
            "type": "direct",
            "event": "app_login",
            "completeRule": {"periodGoal": "1", "period": {"type": "overall"}},
            "limit": {"value": 1, "interval": {"type": "calendarDays", "value": 1}},
        },
    ],
}


def parsed(body: dict[str, Any], version: int = 1):
    return parse_achievement(body, achievement_id=str(uuid.uuid4()), store_code="S", rules_version=version)


def envelope(message: dict[str, Any]) -> dict[str, Any]:
    """The body the sender delivers for a webhook-topic record."""
    return orjson.loads(webhook_body(message))


@pytest.mark.parametrize("body", [LOGIN_STREAK["achievement"], WORKOUTS], ids=["login-streak", "workouts"])
@pytest.mark.parametrize("event_name", ["AchievementCreated", "AchievementUpdated"])
def test_webhook_messages_validate_against_the_contract(body: dict[str, Any], event_name: str) -> None:
    achievement = parsed(body)
    message = achievement_message("S", achievement, event_name, "2024-05-01T00:00:00.000Z")
    assert webhook_errors(event_name, envelope(message)) == []
    again = achievement_message("S", achievement, event_name, "2024-05-01T00:00:00.000Z")
    assert again["messageId"] == message["messageId"]  # the same write, the same id
    later = achievement_message("S", achievement, event_name, "2024-05-01T00:00:01.000Z")
    assert later["messageId"] != message["messageId"]


def test_webhook_payload_renders_what_the_webhook_schema_wants() -> None:
    data = achievement_webhook_data(parsed(WORKOUTS))["achievement"]
    assert set(data["translations"]) == {"en", "pl"}  # the webhook Translations schema allows only these
    assert data["limit"] == {"value": 2, "interval": {"type": "calendarMonths", "value": 1}}
    weekly, login = data["rules"]
    assert weekly["completeRule"] == {
        "periodGoal": 300,
        "period": {"type": "week", "consecutive": 4},
        "uniqueAttribute": "session",
    }
    assert [c["data"] for c in weekly["conditions"]] == [["10", "240"], ["run", "swim"], ["false"], ["1"]]
    assert weekly["aggregation"] == {"type": "sum", "rule": "event.body.minutes"}
    assert weekly["limit"] == {} and login["limit"] == {"value": 1, "interval": {"type": "calendarDays", "value": 1}}
    assert login["completeRule"]["periodGoal"] == 1 and login["translations"] == {"en": {"name": ""}}
    assert data["activity"] == {
        "operator": "is_between",
        "data": {"from": "2024-01-01 00:00", "to": "2024-12-31 23:59"},
    }


def test_a_fractional_goal_is_the_one_documented_deviation() -> None:
    body = copy.deepcopy(WORKOUTS)
    body["rules"][0]["completeRule"]["periodGoal"] = 300.5
    message = achievement_message("S", parsed(body), "AchievementCreated", "2024-05-01T00:00:00.000Z")
    errors = webhook_errors("AchievementCreated", envelope(message))
    assert errors == ["data/achievement/rules/0/completeRule/periodGoal: 300.5 is not of type 'integer'"]


def test_get_view_of_the_same_achievement_validates_too() -> None:
    view = achievement_view(parsed(WORKOUTS))
    assert response_errors("/api/{storeCode}/achievement/{achievement}", "get", 200, view) == []


def test_patch_merges_translations_per_key_and_replaces_the_rest() -> None:
    current = parsed(WORKOUTS)
    rule_id = current.rules[0].rule_id
    merged = merge_patch(
        current,
        {
            "translations": {"en": {"name": "renamed"}, "pl": {"description": "opis"}},
            "limit": {"value": None},
            "rules": [{"achievementRuleId": rule_id, "translations": {"en": {"name": "minutes"}}}],
        },
    )
    assert merged["translations"]["en"] == {"name": "renamed", "description": "for 4 weeks"}
    assert merged["translations"]["pl"] == {"name": "300 minut tygodniowo", "description": "opis"}
    assert merged["limit"] == {"value": None}
    assert merged["rules"][0]["translations"]["en"] == {"name": "minutes", "description": "sum"}
    after = parsed(merged)
    assert after.limit is None and not rules_differ(current, after)
    assert current.definition == parsed(WORKOUTS).definition  # the stored definition is untouched


def test_patch_of_conditions_keeps_progress_and_of_other_rule_fields_is_a_rules_change() -> None:
    current = parsed(WORKOUTS)
    rule_id = current.rules[1].rule_id
    conditions = [{"attribute": "event.body.kind", "operator": "is_equal", "data": "run"}]
    merged = merge_patch(current, {"rules": [{"achievementRuleId": rule_id, "conditions": conditions}]})
    assert merged["rules"][1]["conditions"] == conditions
    assert merged["rules"][0] == current.definition["rules"][0]
    assert not rules_differ(current, parsed(merged))  # Open Loyalty: trigger conditions keep members' progress
    limit = {"value": 3, "interval": {"type": "calendarDays", "value": 1}}  # it was 1 a day
    merged = merge_patch(current, {"rules": [{"achievementRuleId": rule_id, "limit": limit}]})
    assert rules_differ(current, parsed(merged))


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"rules": [{"translations": {}}]}, "achievement.rules[0].achievementRuleId"),
        ({"rules": [{"achievementRuleId": "nope"}]}, "achievement.rules[0].achievementRuleId"),
        ({"rules": ["x"]}, "achievement.rules[0].achievementRuleId"),
        ({"rules": {}}, "achievement.rules"),
    ],
)
def test_patch_naming_no_rule_is_refused(patch: dict[str, Any], path: str) -> None:
    with pytest.raises(BadRequest) as caught:
        merge_patch(parsed(copy.deepcopy(WORKOUTS)), patch)
    assert [p.path for p in caught.value.problems] == [path]
