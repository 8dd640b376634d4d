"""Bad input on every endpoint gets Open Loyalty's 400 shape with a path per error; auth gives 401/403."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import settings_for
from tests.support.contract import response_errors
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, LOGIN_STREAK, post, schema_body
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[httpx.Client]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("api-errors"))
    s = Stack(settings, tmp_path_factory.mktemp("api-errors-logs")).start("api")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        post(
            client,
            "/api/DEFAULT/customEvent/schema",
            {"customEventSchema": schema_body("workout", "Workout", minutes="number", kind="text")},
            expect=204,
        )
        post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
        yield client
    s.stop()


def _event(**overrides):
    event = {
        "type": "workout",
        "eventDate": "2024-05-01T10:00:00",
        "customerData": {"email": "a@example.com"},
        "body": {"minutes": 30},
    }
    event.update(overrides)
    return {"event": event}


BAD = {
    "/api/{storeCode}/customEvent": [
        ({"event": {"eventDate": "2024-05-01T10:00:00"}}, "event.type"),
        (_event(type="no_such_type"), "event.type"),
        (_event(eventDate="yesterday"), "event.eventDate"),
        (_event(eventDate="2999-01-01T00:00:00Z"), "event.eventDate"),
        (_event(body={"minutes": "thirty"}), "event.body.minutes"),
        (_event(body={"kind": "x" * 256}), "event.body.kind"),
        (_event(customerData={}), "event.customerData"),
        (_event(eventId=""), "event.eventId"),
        (_event(type=5), "event.type"),
        ({}, "event"),
    ],
    "/api/{storeCode}/customEvent/schema": [
        ({"customEventSchema": {"name": "x", "schema": {}}}, "customEventSchema.eventType"),
        (
            {
                "customEventSchema": {
                    "eventType": "e1",
                    "name": "x",
                    "schema": {"fields": [{"name": "f", "type": "money"}]},
                }
            },
            "customEventSchema.schema.fields[0].type",
        ),
        ({"customEventSchema": {"eventType": "app_login", "name": "dup", "schema": {}}}, "customEventSchema.eventType"),
    ],
    "/api/{storeCode}/achievement": [
        ({"achievement": {**LOGIN_STREAK["achievement"], "rules": []}}, "achievement.rules"),
        ({"achievement": {**LOGIN_STREAK["achievement"], "translations": {}}}, "achievement.translations"),
        ({}, "achievement"),
    ],
    "/api/{storeCode}/member": [
        ({"customer": {"firstName": "No identifiers"}}, "customer"),
        ({"customer": {"email": "x" * 300}}, "customer.email"),
    ],
    "/api/{storeCode}/webhook/subscription": [
        (
            {"webhookSubscription": {"eventName": "NoSuchEvent", "url": "http://127.0.0.1:1/x"}},
            "webhookSubscription.eventName",
        ),
        (
            {"webhookSubscription": {"eventName": "AchievementsWereProcessed", "url": "ftp://x"}},
            "webhookSubscription.url",
        ),
        ({"webhookSubscription": {"url": "http://127.0.0.1:1/x"}}, "webhookSubscription.eventName"),
    ],
}
CASES = [(path, body, where) for path, cases in BAD.items() for body, where in cases]


@pytest.mark.parametrize(("path", "body", "where"), CASES, ids=[f"{p.split('}/')[1]}-{w}" for p, _b, w in CASES])
def test_bad_input_gets_open_loyalty_400(api: httpx.Client, path: str, body: dict, where: str) -> None:
    response = api.post(path.replace("{storeCode}", "DEFAULT"), json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert response_errors(path, "post", 400, payload) == []
    assert payload["code"] == 400
    paths = [e["path"] for e in payload["errors"]]
    assert any(p == where or p.startswith(where + ".") or p.startswith(where + "[") for p in paths), paths


@pytest.mark.parametrize("path", list(BAD))
def test_not_json_is_400(api: httpx.Client, path: str) -> None:
    response = api.post(
        path.replace("{storeCode}", "DEFAULT"),
        content=b"{not json",
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response_errors(path, "post", 400, response.json()) == []


@pytest.mark.parametrize("path", list(BAD))
def test_auth(api: httpx.Client, path: str) -> None:
    url = path.replace("{storeCode}", "DEFAULT")
    missing = api.post(url, json={})
    assert missing.status_code == 401
    assert missing.json() == {"message": "Authentication Required"}
    unknown = api.post(url, json={}, headers={"X-AUTH-TOKEN": "wrong"})
    assert unknown.status_code == 401
    other_store = api.post(url, json={}, headers={"X-AUTH-TOKEN": "other-key"})
    assert other_store.status_code == 403
    assert other_store.json() == {"code": 403, "message": "Forbidden."}
