"""Achievements over HTTP against the real broker: list, get, PUT, PATCH (rulesVersion), and the
AchievementCreated / AchievementUpdated webhook messages on the webhooks topic."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from loyalty_stream.config.settings import Settings
from tests.conftest import settings_for
from tests.support.contract import response_errors, webhook_errors
from tests.support.flows import AUTH, LOGIN_STREAK, post
from tests.support.stack import Stack
from tests.support.topics import TopicReader
from webhook_sender.envelope import envelope as webhook_body

ITEM = "/api/{storeCode}/achievement/{achievement}"
LIST = "/api/{storeCode}/achievement"


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("api-achievements"))
    s = Stack(settings, tmp_path_factory.mktemp("api-achievements-logs")).start("api")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        yield client, settings
    s.stop()


def achievement(name: str, *, active: bool = True, goal: int = 1) -> dict[str, Any]:
    body = copy.deepcopy(LOGIN_STREAK)
    body["achievement"]["translations"]["en"]["name"] = name
    body["achievement"]["active"] = active
    body["achievement"]["rules"][0]["completeRule"]["periodGoal"] = goal
    return body


def get(client: httpx.Client, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params, headers=AUTH)
    assert response.status_code == status, response.text
    return response.json()


def create(client: httpx.Client, name: str, **kw: Any) -> str:
    return post(client, "/api/DEFAULT/achievement", achievement(name, **kw))["achievementId"]


def test_get_answers_the_contract_shape_right_after_post(api) -> None:
    client, _ = api
    achievement_id = create(client, "Login streak")
    body = get(client, f"/api/DEFAULT/achievement/{achievement_id}")
    assert response_errors(ITEM, "get", 200, body) == []
    assert body["achievementId"] == achievement_id
    assert body["translations"]["en"]["name"] == "Login streak"
    assert body["activity"] == {"operator": ""}
    assert body["limit"] == {"value": 1}
    rule = body["rules"][0]
    assert rule["completeRule"] == {"periodGoal": "1", "period": {"type": "last_day", "consecutive": 1, "value": 7}}
    assert rule["limit"] == {"value": 1, "interval": {"type": "calendarDays", "value": 1}}


def test_list_filters_sorts_and_pages(api) -> None:
    client, _ = api
    tag = uuid.uuid4().hex[:6]
    ids = [create(client, f"{tag} list {n}", active=n != 1) for n in range(3)]
    body = get(client, "/api/DEFAULT/achievement", **{"name[like]": tag.upper(), "_itemsOnPage": 50})
    assert response_errors(LIST, "get", 200, body) == []
    assert [i["achievementId"] for i in body["items"]] == ids  # createdAt order by default
    assert body["total"]["filtered"] == 3 and body["total"]["all"] >= 3
    assert set(body["items"][0]) == {"achievementId", "name", "active", "createdAt"}

    inactive = get(client, "/api/DEFAULT/achievement", **{"name[like]": tag, "active": "false"})
    assert [i["achievementId"] for i in inactive["items"]] == [ids[1]]

    second = get(
        client,
        "/api/DEFAULT/achievement",
        **{"name[like]": tag, "_orderBy[name]": "desc", "_itemsOnPage": 1, "_page": 2},
    )
    assert [i["name"] for i in second["items"]] == [f"{tag} list 1"]
    assert second["total"]["filtered"] == 3


def test_list_is_per_store(api) -> None:
    client, _ = api
    achievement_id = create(client, "only in DEFAULT")
    response = client.get("/api/OTHER/achievement", headers={"X-AUTH-TOKEN": "other-key"}, params={"_itemsOnPage": 50})
    assert response.status_code == 200
    assert achievement_id not in {i["achievementId"] for i in response.json()["items"]}
    assert (
        client.get(f"/api/OTHER/achievement/{achievement_id}", headers={"X-AUTH-TOKEN": "other-key"}).status_code == 404
    )


@pytest.mark.parametrize(
    "params",
    [{"_itemsOnPage": "51"}, {"_page": "0"}, {"_orderBy[color]": "asc"}, {"active": "maybe"}, {"createdAt[gte]": "x"}],
)
def test_bad_query_is_400_with_the_parameter_as_path(api, params) -> None:
    client, _ = api
    response = client.get("/api/DEFAULT/achievement", params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    body = response.json()
    # GET /achievement lists no 400 in the contract (a documented addition): check Open Loyalty's 400 shape
    assert response_errors("/api/{storeCode}/customEvent/schema", "get", 400, body) == []
    assert [e["path"] for e in body["errors"]] == list(params)


def test_put_of_names_keeps_rules_version_and_a_rules_change_bumps_it(api) -> None:
    client, _ = api
    achievement_id = create(client, "before")
    first_rule = get(client, f"/api/DEFAULT/achievement/{achievement_id}")["rules"][0]["achievementRuleId"]

    renamed = achievement("after")
    renamed["achievement"]["rules"][0]["translations"]["en"]["name"] = "renamed rule"
    renamed["achievement"]["activity"] = {"operator": "is_day_of_week", "data": ["1", "2"]}
    assert client.put(f"/api/DEFAULT/achievement/{achievement_id}", json=renamed, headers=AUTH).status_code == 204
    body = get(client, f"/api/DEFAULT/achievement/{achievement_id}")
    assert response_errors(ITEM, "get", 200, body) == []
    assert body["translations"]["en"]["name"] == "after"
    assert body["activity"] == {"operator": "is_day_of_week", "data": ["1", "2"]}
    assert body["rules"][0]["achievementRuleId"] == first_rule  # same rulesVersion

    assert (
        client.put(f"/api/DEFAULT/achievement/{achievement_id}", json=achievement("after", goal=2), headers=AUTH)
    ).status_code == 204
    body = get(client, f"/api/DEFAULT/achievement/{achievement_id}")
    assert body["rules"][0]["completeRule"]["periodGoal"] == "2"
    assert body["rules"][0]["achievementRuleId"] != first_rule  # rulesVersion 2: new rule ids


def test_patch_merges_into_the_stored_definition(api) -> None:
    client, settings = api
    achievement_id = create(client, "patch me")
    url = f"/api/DEFAULT/achievement/{achievement_id}"
    rule_id = get(client, url)["rules"][0]["achievementRuleId"]

    def patch(body: dict[str, Any], status: int = 204) -> Any:
        response = client.patch(url, json={"achievement": body}, headers=AUTH)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    patch({"translations": {"en": {"name": "patched"}}, "active": False})
    body = get(client, url)
    assert body["translations"]["en"] == {
        "name": "patched",
        "description": LOGIN_STREAK["achievement"]["translations"]["en"]["description"],
    }
    assert body["active"] is False
    assert body["rules"][0]["achievementRuleId"] == rule_id and body["limit"] == {"value": 1}

    patch({"rules": [{"achievementRuleId": rule_id, "translations": {"en": {"name": "streak, renamed"}}}]})
    body = get(client, url)
    assert body["rules"][0]["translations"]["en"]["name"] == "streak, renamed"
    assert body["rules"][0]["achievementRuleId"] == rule_id  # names are not rules: no bump

    patch({"limit": {"value": None}})
    assert "limit" not in get(client, url)

    conditions = [{"attribute": "event.body.device", "operator": "is_equal", "data": "ios"}]
    patch({"rules": [{"achievementRuleId": rule_id, "conditions": conditions}]})
    body = get(client, url)
    assert body["rules"][0]["conditions"] == conditions
    assert body["rules"][0]["achievementRuleId"] == rule_id  # Open Loyalty: conditions keep members' progress

    patch({"rules": [{"achievementRuleId": rule_id, "limit": {"value": 2, "interval": {"type": "calendarDays"}}}]})
    body = get(client, url)
    assert body["rules"][0]["limit"]["value"] == 2 and body["rules"][0]["conditions"] == conditions
    assert body["rules"][0]["achievementRuleId"] != rule_id  # a rules change bumps rulesVersion
    assert body["rules"][0]["translations"]["en"]["name"] == "streak, renamed"

    error = patch({"rules": [{"achievementRuleId": rule_id}]}, status=400)  # the old id is gone
    assert [e["path"] for e in error["errors"]] == ["achievement.rules[0].achievementRuleId"]
    error = patch({"activity": {"operator": "is_between", "data": "nope"}}, status=400)
    assert response_errors(ITEM, "patch", 400, error) == []
    assert error["errors"][0]["path"].startswith("achievement.activity")

    versions = [
        r.record["rulesVersion"]
        for r in TopicReader(settings, settings.topic_prefix + "achievements").wait_for(
            lambda rs: sum(1 for r in rs if r.key == f"DEFAULT:{achievement_id}".encode()) >= 6, timeout=30
        )
        if r.key == f"DEFAULT:{achievement_id}".encode()
    ]
    assert versions == [1, 1, 1, 1, 1, 2]


def test_unknown_achievement_is_404_and_bad_put_is_400(api) -> None:
    client, _ = api
    missing = f"/api/DEFAULT/achievement/{uuid.uuid4()}"
    for method in ("get", "put", "patch"):
        kwargs = {} if method == "get" else {"json": achievement("x")}
        response = client.request(method.upper(), missing, headers=AUTH, **kwargs)
        assert response.status_code == 404, (method, response.text)
        assert response.json() == {"code": 404, "message": "Not Found"}
    achievement_id = create(client, "bad put")
    bad = achievement("bad put")
    bad["achievement"]["rules"][0]["completeRule"]["period"] = {"type": "fortnight"}
    response = client.put(f"/api/DEFAULT/achievement/{achievement_id}", json=bad, headers=AUTH)
    assert response.status_code == 400
    assert response_errors(ITEM, "put", 400, response.json()) == []
    assert response.json()["errors"][0]["path"] == "achievement.rules[0].completeRule.period.type"


def test_rules_the_engine_does_not_evaluate_are_refused_not_stored(api) -> None:
    client, _ = api
    body = achievement("spend in a week")
    event_condition = {"attribute": "event.body.minutes", "operator": "is_greater", "data": 5}
    transaction_rule = {**body["achievement"]["rules"][0], "trigger": "transaction", "event": None}
    body["achievement"]["rules"].append({**transaction_rule, "conditions": [event_condition]})
    response = client.post("/api/DEFAULT/achievement", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    paths = [e["path"] for e in response.json()["errors"]]
    assert paths == ["achievement.rules[1].conditions[0].attribute"]  # a transaction has no event.body
    body["achievement"]["rules"][1] = {**transaction_rule, "conditions": []}
    assert post(client, "/api/DEFAULT/achievement", body)["achievementId"]  # transaction rules count now
    achievement_id = create(client, "referral later")
    body["achievement"]["rules"][1] = {**body["achievement"]["rules"][0], "type": "referral"}
    response = client.put(f"/api/DEFAULT/achievement/{achievement_id}", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["path"] == "achievement.rules[1].type"


def test_created_and_updated_webhook_messages_match_the_contract(api) -> None:
    client, settings = api
    achievement_id = create(client, "announced")
    client.put(f"/api/DEFAULT/achievement/{achievement_id}", json=achievement("announced again", goal=3), headers=AUTH)
    key = f"DEFAULT:{achievement_id}".encode()
    reader = TopicReader(settings, settings.topic_prefix + "webhooks")
    records = [r for r in reader.wait_for(lambda rs: sum(r.key == key for r in rs) >= 2, timeout=30) if r.key == key]
    reader.close()
    assert [r.record["eventName"] for r in records] == ["AchievementCreated", "AchievementUpdated"]
    for read in records:
        message = read.record
        envelope = orjson.loads(webhook_body(message))  # the body the sender delivers
        assert webhook_errors(message["eventName"], envelope) == []
        assert envelope["data"]["achievement"]["achievementId"] == achievement_id
        assert uuid.UUID(message["messageId"]).version == 5
    updated = orjson.loads(records[1].record["data"])["achievement"]
    assert updated["translations"]["en"]["name"] == "announced again"
    assert updated["rules"][0]["completeRule"]["periodGoal"] == 3


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/DEFAULT/achievement"),
        ("get", "/api/DEFAULT/achievement/00000000-0000-0000-0000-000000000000"),
        ("put", "/api/DEFAULT/achievement/00000000-0000-0000-0000-000000000000"),
        ("patch", "/api/DEFAULT/achievement/00000000-0000-0000-0000-000000000000"),
    ],
)
def test_auth(api, method: str, path: str) -> None:
    client, _ = api
    assert client.request(method.upper(), path, json={}).status_code == 401
    assert client.request(method.upper(), path, json={}, headers={"X-AUTH-TOKEN": "wrong"}).status_code == 401
    forbidden = client.request(method.upper(), path, json={}, headers={"X-AUTH-TOKEN": "other-key"})
    assert forbidden.status_code == 403 and forbidden.json() == {"code": 403, "message": "Forbidden."}


def test_the_sender_delivers_achievement_webhooks_to_subscribers(stack, receiver) -> None:
    s = stack("api", "sender")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        for event_name in ("AchievementCreated", "AchievementUpdated"):
            subscription = {"webhookSubscription": {"eventName": event_name, "url": receiver.url()}}
            post(client, "/api/DEFAULT/webhook/subscription", subscription)
        achievement_id = create(client, "delivered")
        client.patch(
            f"/api/DEFAULT/achievement/{achievement_id}", json={"achievement": {"active": False}}, headers=AUTH
        )
    received = receiver.wait_for(lambda r: len(r) >= 2, timeout=60)
    bodies = sorted((r.json() for r in received), key=lambda b: b["createdAt"])
    assert [b["eventName"] for b in bodies] == ["AchievementCreated", "AchievementUpdated"]
    for body in bodies:
        assert webhook_errors(body["eventName"], body) == []
        assert body["data"]["achievement"]["achievementId"] == achievement_id
    assert bodies[1]["data"]["achievement"]["active"] is False
