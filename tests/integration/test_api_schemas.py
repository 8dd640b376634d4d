"""Custom event schemas over HTTP against the real broker: list, get, PUT (eventType immutable), activation,
and events validated against the new state right after each acknowledged change."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import settings_for
from tests.support.contract import response_errors
from tests.support.flows import AUTH, post
from tests.support.stack import Stack

LIST = "/api/{storeCode}/customEvent/schema"
ITEM = "/api/{storeCode}/customEvent/schema/{customEventSchema}"
ACTIVE = "/api/{storeCode}/customEvent/schema/{eventType}/active"


@pytest.fixture(scope="module")
def client(kafka, tmp_path_factory) -> Iterator[httpx.Client]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("api-schemas"))
    s = Stack(settings, tmp_path_factory.mktemp("api-schemas-logs")).start("api")
    with httpx.Client(base_url=s.api, timeout=30) as c:
        yield c
    s.stop()


def schema(event_type: str, name: str = "Workout", fields: list[dict[str, str]] | None = None, **extra: Any) -> dict:
    return {"customEventSchema": {"eventType": event_type, "name": name, "schema": {"fields": fields or []}, **extra}}


def event(event_type: str, body: dict[str, Any]) -> dict:
    return {
        "event": {
            "type": event_type,
            "eventDate": "2024-05-01T10:00:00",
            "customerData": {"email": "a@example.com"},
            "body": body,
        }
    }


def get(client: httpx.Client, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params, headers=AUTH)
    assert response.status_code == status, response.text
    return response.json()


def test_list_and_get_answer_the_contract_shape(client) -> None:
    tag = uuid.uuid4().hex[:6]
    minutes = [{"name": "minutes", "type": "number", "description": "Minutes"}]
    post(client, "/api/DEFAULT/customEvent/schema", schema(f"{tag}_run", "Run", minutes), expect=204)
    post(
        client, "/api/DEFAULT/customEvent/schema", schema(f"{tag}_swim", "Swim", active={"isActive": False}), expect=204
    )

    one = get(client, f"/api/DEFAULT/customEvent/schema/{tag}_run")
    assert response_errors(ITEM, "get", 200, one) == []
    assert one["eventType"] == f"{tag}_run" and one["name"] == "Run" and one["active"] is True
    assert one["schema"] == {"fields": minutes}

    listed = get(client, "/api/DEFAULT/customEvent/schema", **{"eventType[like]": tag})
    assert response_errors(LIST, "get", 200, listed) == []
    assert [i["eventType"] for i in listed["items"]] == [f"{tag}_run", f"{tag}_swim"]
    assert listed["total"]["filtered"] == 2
    inactive = get(client, "/api/DEFAULT/customEvent/schema", **{"eventType[like]": tag, "active": "false"})
    assert [i["name"] for i in inactive["items"]] == ["Swim"]
    by_name = get(client, "/api/DEFAULT/customEvent/schema", name="Run", **{"eventType[like]": tag})
    assert [i["eventType"] for i in by_name["items"]] == [f"{tag}_run"]

    get(client, "/api/DEFAULT/customEvent/schema/no_such_type", status=404)
    other = client.get(f"/api/OTHER/customEvent/schema/{tag}_run", headers={"X-AUTH-TOKEN": "other-key"})
    assert other.status_code == 404


def test_put_changes_name_fields_and_active_and_events_follow_at_once(client) -> None:
    kind = f"t{uuid.uuid4().hex[:6]}"
    post(client, "/api/DEFAULT/customEvent/schema", schema(kind, "Before"), expect=204)
    post(client, "/api/DEFAULT/customEvent", event(kind, {"minutes": "many"}))  # no fields declared yet

    update = schema(kind, "After", [{"name": "minutes", "type": "number", "description": ""}])
    update["customEventSchema"].pop("eventType")
    response = client.put(f"/api/DEFAULT/customEvent/schema/{kind}", json=update, headers=AUTH)
    assert response.status_code == 204, response.text
    after = get(client, f"/api/DEFAULT/customEvent/schema/{kind}")
    assert after["name"] == "After" and after["schema"]["fields"][0]["name"] == "minutes"
    assert after["active"] is True  # kept when the PUT does not say

    refused = client.post("/api/DEFAULT/customEvent", json=event(kind, {"minutes": "many"}), headers=AUTH)
    assert refused.status_code == 400
    assert [e["path"] for e in refused.json()["errors"]] == ["event.body.minutes"]
    post(client, "/api/DEFAULT/customEvent", event(kind, {"minutes": 30}))


def test_event_type_is_immutable_and_bad_puts_are_400(client) -> None:
    kind = f"t{uuid.uuid4().hex[:6]}"
    post(client, "/api/DEFAULT/customEvent/schema", schema(kind), expect=204)
    cases = [
        (schema("renamed"), "customEventSchema.eventType"),
        (
            schema(kind, fields=[{"name": "a", "type": "text"}, {"name": "a", "type": "number"}]),
            "customEventSchema.schema.fields",
        ),
        (schema(kind, fields=[{"name": "a", "type": "money"}]), "customEventSchema.schema.fields[0].type"),
        ({"customEventSchema": {"schema": {}}}, "customEventSchema.name"),
    ]
    for body, path in cases:
        response = client.put(f"/api/DEFAULT/customEvent/schema/{kind}", json=body, headers=AUTH)
        assert response.status_code == 400, response.text
        assert response_errors(ITEM, "put", 400, response.json()) == []
        assert path in [e["path"] for e in response.json()["errors"]]
    missing = client.put("/api/DEFAULT/customEvent/schema/no_such_type", json=schema("no_such_type"), headers=AUTH)
    assert missing.status_code == 404


def test_activation_endpoint_turns_event_intake_off_and_on(client) -> None:
    kind = f"t{uuid.uuid4().hex[:6]}"
    post(client, "/api/DEFAULT/customEvent/schema", schema(kind), expect=204)
    url = f"/api/DEFAULT/customEvent/schema/{kind}/active"

    assert client.post(url, json={"active": False}, headers=AUTH).status_code == 204
    assert get(client, f"/api/DEFAULT/customEvent/schema/{kind}")["active"] is False
    refused = client.post("/api/DEFAULT/customEvent", json=event(kind, {}), headers=AUTH)
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "inactive_event_type"

    assert client.post(url, json={"active": True}, headers=AUTH).status_code == 204
    post(client, "/api/DEFAULT/customEvent", event(kind, {}))

    bad = client.post(url, json={"active": "yes"}, headers=AUTH)
    assert bad.status_code == 400
    assert response_errors(ACTIVE, "post", 400, bad.json()) == []
    assert [e["path"] for e in bad.json()["errors"]] == ["active"]
    assert (
        client.post(
            "/api/DEFAULT/customEvent/schema/no_such_type/active", json={"active": True}, headers=AUTH
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/DEFAULT/customEvent/schema"),
        ("get", "/api/DEFAULT/customEvent/schema/x"),
        ("put", "/api/DEFAULT/customEvent/schema/x"),
        ("post", "/api/DEFAULT/customEvent/schema/x/active"),
    ],
)
def test_auth(client, method: str, path: str) -> None:
    assert client.request(method.upper(), path, json={}).status_code == 401
    forbidden = client.request(method.upper(), path, json={}, headers={"X-AUTH-TOKEN": "other-key"})
    assert forbidden.status_code == 403 and forbidden.json() == {"code": 403, "message": "Forbidden."}
