"""POST /api/{storeCode}/customEvent/batch against the real broker: per-item results in order, limits, and
per-item 503s when the broker is down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain import custom_event_id
from tests.conftest import settings_for
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, post
from tests.support.stack import Stack
from tests.support.topics import TopicReader

URL = "/api/DEFAULT/customEvent/batch"
WORKOUT = {
    "customEventSchema": {
        "eventType": "workout",
        "name": "Workout",
        "schema": {"fields": [{"name": "minutes", "type": "number", "description": "Minutes"}]},
    }
}


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = settings_for(
        kafka, tmp_path_factory.mktemp("api-batch"), api_batch_max_events=20, api_batch_max_bytes=64 * 1024
    )
    s = Stack(settings, tmp_path_factory.mktemp("api-batch-logs")).start("api")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        post(client, "/api/DEFAULT/customEvent/schema", WORKOUT, expect=204)
        post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
        yield client, settings
    s.stop()


def workout(minutes: Any = 30, event_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "workout",
        "eventDate": "2024-05-01T10:00:00",
        "customerData": {"email": "a@example.com"},
        "body": {"minutes": minutes},
    }
    if event_id:
        event["eventId"] = event_id
    event.update(overrides)
    return event


def test_items_answer_in_order_and_only_valid_events_are_written(api) -> None:
    client, settings = api
    tag = uuid.uuid4().hex[:8]
    events = [
        workout(event_id=f"{tag}-0"),
        workout(minutes="thirty"),
        workout(type="no_such_type"),
        {"eventDate": "2024-05-01T10:00:00"},
        "not an object",
        workout(event_id=f"{tag}-0"),  # the same eventId: the same customEventId
        workout(customerData={}),
        workout(event_id=f"{tag}-6", eventDate="yesterday"),
        {"type": "app_login", "eventDate": "2024-05-01T10:00:00", "customerData": {"phone": "+48 123"}},
    ]
    response = client.post(URL, json={"events": events}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert "Retry-After" not in response.headers
    items = response.json()["items"]
    assert len(items) == len(events)
    assert items[0] == {"customEventId": custom_event_id("DEFAULT", f"{tag}-0")}
    assert items[5] == items[0]
    paths = {i: [e["path"] for e in item.get("errors", [])] for i, item in enumerate(items)}
    assert paths[1] == ["events[1].body.minutes"]
    assert paths[2] == ["events[2].type"]
    assert paths[3] == ["events[3].type"]
    assert paths[4] == ["events[4]"]
    assert paths[6] == ["events[6].customerData"]
    assert paths[7] == ["events[7].eventDate"]
    assert set(items[8]) == {"customEventId"}
    for item in items:
        for error in item.get("errors", []):
            assert set(error) == {"message", "parameters", "plural", "code", "path"}

    accepted = {items[i]["customEventId"] for i in (0, 8)}
    reader = TopicReader(settings, settings.topic_prefix + "custom-events")
    written = reader.wait_for(lambda rs: accepted <= {r.record["customEventId"] for r in rs if r.record}, timeout=30)
    reader.close()
    ours = [r for r in written if r.record and r.record["customEventId"] in accepted]
    assert len(ours) == 3  # events 0, 5 (same id, deduplicated downstream) and 8; nothing else of this batch


def test_a_full_batch_is_accepted_and_one_more_is_refused(api) -> None:
    client, _ = api
    full = [workout(event_id=f"full-{n}") for n in range(20)]
    response = client.post(URL, json={"events": full}, headers=AUTH)
    assert response.status_code == 200
    assert [i["customEventId"] for i in response.json()["items"]] == [
        custom_event_id("DEFAULT", f"full-{n}") for n in range(20)
    ]
    too_many = client.post(URL, json={"events": [*full, workout()]}, headers=AUTH)
    assert too_many.status_code == 400
    assert [e["path"] for e in too_many.json()["errors"]] == ["events"]


@pytest.mark.parametrize(
    ("content", "path"),
    [(b"{not json", "body"), (b'{"events": {}}', "events"), (b'{"events": []}', "events"), (b"[]", "events")],
)
def test_malformed_requests_are_400(api, content: bytes, path: str) -> None:
    client, _ = api
    response = client.post(URL, content=content, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400 and [e["path"] for e in body["errors"]] == [path]


def test_bodies_over_the_byte_limit_are_413_declared_or_streamed(api) -> None:
    client, _ = api
    big = {"events": [workout(event_id=f"big-{n}", body={"minutes": 1, "note": "x" * 250}) for n in range(20)] * 20}
    response = client.post(URL, json=big, headers=AUTH)
    assert response.status_code == 413
    assert response.json() == {"code": 413, "message": "Request body too large: the limit is 65536 bytes"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while the body streams in
        yield b'{"events": ['
        for _ in range(400):
            yield b'{"type": "workout", "eventDate": "2024-05-01T10:00:00", "body": {"note": "' + b"y" * 200 + b'"}},'
        yield b"{}]}"

    streamed = client.post(URL, content=chunks(), headers={**AUTH, "Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_auth(api) -> None:
    client, _ = api
    assert client.post(URL, json={"events": [workout()]}).status_code == 401
    assert client.post(URL, json={"events": [workout()]}, headers={"X-AUTH-TOKEN": "other-key"}).status_code == 403


def test_openapi_documents_the_batch_endpoint(api) -> None:
    client, _ = api
    operation = client.get("/openapi.json").json()["paths"]["/api/{storeCode}/customEvent/batch"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]
    assert request["properties"]["events"]["items"]["properties"]["customerData"]["properties"]["email"]
    assert {"200", "400", "401", "403", "413", "503"} <= set(operation["responses"])


def test_items_not_acknowledged_get_503_errors(own_broker, lone_api) -> None:
    client = lone_api
    post(client, "/api/DEFAULT/customEvent/schema", WORKOUT, expect=204)
    own_broker.stop()
    response = client.post(
        URL, json={"events": [workout(event_id="down-1"), workout(minutes="x"), workout()]}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert int(response.headers["Retry-After"]) > 0
    items = response.json()["items"]
    assert [e["code"] for e in items[0]["errors"]] == ["503"]
    assert [e["path"] for e in items[0]["errors"]] == ["events[0]"]
    assert items[1]["errors"][0]["path"] == "events[1].body.minutes"  # validated, never sent
    assert [e["code"] for e in items[2]["errors"]] == ["503"]
