"""API hardening against a real API process and broker: body size (413), per-store rate limits (429), strict
types and limits (400, never a 500 or FastAPI's 422), and the regressions schemathesis found."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from loyalty_stream.tools.procs import wait_until
from tests.conftest import settings_for
from tests.support.contract import response_errors
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, LOGIN_STREAK, login_event, post
from tests.support.stack import Stack

OTHER = {"X-AUTH-TOKEN": "other-key"}
JSON = {**AUTH, "Content-Type": "application/json"}
LIMIT = 64 * 1024
BATCH_LIMIT = 256 * 1024


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[httpx.Client]:
    settings = settings_for(
        kafka,
        tmp_path_factory.mktemp("hardening"),
        api_max_body_bytes=LIMIT,
        api_batch_max_bytes=BATCH_LIMIT,
        api_rate_limit_per_second=1.0,
        api_rate_limit_burst=1000,  # store DEFAULT gets 1000 requests, then one a second; OTHER its own 1000
    )
    stack = Stack(settings, tmp_path_factory.mktemp("hardening-logs")).start("api", "processor")
    try:
        with httpx.Client(base_url=stack.api, timeout=30) as client:
            post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
            post(
                client,
                "/api/DEFAULT/customEvent/schema",
                {
                    "customEventSchema": {
                        "eventType": "visit",
                        "name": "Visit",
                        "schema": {"fields": [{"name": "at", "type": "datetime", "description": ""}]},
                    }
                },
                expect=204,
            )
            client.post(
                "/api/OTHER/customEvent/schema",
                json={"customEventSchema": {"eventType": "app_login", "name": "Login", "schema": {}}},
                headers=OTHER,
            ).raise_for_status()
            yield client
    finally:
        stack.stop()


def _error_shape(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status and isinstance(body["message"], str)
    return body


def _paths(response: httpx.Response) -> list[str]:
    body = _error_shape(response, 400)
    assert response_errors("/api/{storeCode}/customEvent", "post", 400, body) == []  # Open Loyalty's 400 shape
    return [e["path"] for e in body["errors"]]


# -- 413 --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/api/DEFAULT/customEvent", "/api/DEFAULT/achievement", "/api/DEFAULT/member"])
def test_a_declared_body_over_the_limit_is_413(api: httpx.Client, path: str) -> None:
    big = {"event": {"type": "app_login", "body": {"x": "y" * LIMIT}}}
    body = _error_shape(api.post(path, json=big, headers=AUTH), 413)
    assert body == {"code": 413, "message": f"Request body too large: the limit is {LIMIT} bytes"}


def test_a_chunked_body_over_the_limit_is_413_while_it_streams(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"event": {"body": {"x": "'
        for _ in range(2 * LIMIT // 4096):
            yield b"y" * 4096
        yield b'"}}}'

    _error_shape(api.post("/api/DEFAULT/customEvent", content=chunks(), headers=JSON), 413)


def test_the_batch_endpoint_keeps_its_own_larger_limit(api: httpx.Client) -> None:
    events = [login_event(event_id=f"batch-limit-{n}")["event"] for n in range(2)]
    padding = "p" * (LIMIT + 1000)  # over the single-request limit, under the batch one
    raw = orjson.dumps({"events": events, "padding": padding})
    response = api.post("/api/DEFAULT/customEvent/batch", content=raw, headers=JSON)
    assert response.status_code == 200, response.text
    assert all("customEventId" in item for item in response.json()["items"])
    too_big = orjson.dumps({"events": events, "padding": "p" * BATCH_LIMIT})
    _error_shape(api.post("/api/DEFAULT/customEvent/batch", content=too_big, headers=JSON), 413)


def test_a_body_under_the_limit_is_served(api: httpx.Client) -> None:
    event = login_event(event_id="under-the-limit")
    event["event"]["body"] = {f"k{n}": "v" * 200 for n in range(200)}  # ~45 KB
    assert api.post("/api/DEFAULT/customEvent", json=event, headers=AUTH).status_code == 200


# -- strict types and limits ----------------------------------------------------------------------------
BAD_JSON = [
    b'{"event": {"type": "app_login", "body": {"x": NaN}}}',
    b'{"event": {"body": {"x": Infinity}}}',
    b'{"event": {"body": {"x": 1e999}}}',
    b'{"event": {"type": "\\ud800"}}',
    b"\xff\xfe\x00{",
    b'{"event": ',
]


@pytest.mark.parametrize("raw", BAD_JSON)
def test_bodies_that_are_not_strict_json_are_400(api: httpx.Client, raw: bytes) -> None:
    for path in ("/api/DEFAULT/customEvent", "/api/DEFAULT/member", "/api/DEFAULT/webhook/subscription"):
        assert _paths(api.post(path, content=raw, headers=JSON)) == ["body"]


@pytest.mark.parametrize(
    ("event", "where"),
    [
        ({"body": {"n": 2**53}}, "event.body.n"),  # not exactly representable as a double (was accepted)
        ({"body": {"n": 10**30}}, "event.body.n"),  # > 64 bits: json.loads made it an int orjson cannot write
        ({"body": {"n": 1e300}}, "event.body.n"),  # summed exactly, it would become a 997-digit int
        ({"body": {"k" * 256: 1}}, "event.body." + "k" * 32 + "…"),
        ({"body": {"s": "x" * 256}}, "event.body.s"),
        ({"eventId": "e" * 256}, "event.eventId"),
        ({"type": "t" * 256}, "event.type"),
        ({"customerData": {"email": "e" * 256}}, "event.customerData.email"),
        ({"eventDate": "1899-12-31T23:59:59Z"}, "event.eventDate"),
        ({"eventDate": "2999-01-01T00:00:00Z"}, "event.eventDate"),
        ({"eventDate": "0001-01-01T00:00:00"}, "event.eventDate"),
        ({"type": "visit", "body": {"at": "0001-01-01T00:00:00+05:00"}}, "event.body.at"),  # year 0 in UTC
    ],
)
def test_event_limits_are_400_at_the_field(api: httpx.Client, event: dict[str, Any], where: str) -> None:
    body = login_event(event_id="limits")
    body["event"].update(event)
    assert where in _paths(api.post("/api/DEFAULT/customEvent", json=body, headers=AUTH))


def test_a_local_date_that_is_year_0_in_utc_is_400_not_500(api: httpx.Client) -> None:
    # OTHER is Europe/Warsaw (+01:24 in year 1): its midnight of 0001-01-01 is in year 0 UTC (OverflowError).
    body = login_event(event_id="year-one")
    body["event"]["eventDate"] = "0001-01-01T00:00:00"
    assert _paths(api.post("/api/OTHER/customEvent", json=body, headers=OTHER)) == ["event.eventDate"]
    listing = api.get("/api/OTHER/customEvent", params={"eventDate[gte]": "0001-01-01T00:00:00"}, headers=OTHER)
    assert _paths(listing) == ["eventDate[gte]"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/bad%20code/achievement", 400),
        ("/api/" + "S" * 65 + "/achievement", 400),
        ("/api/d%C3%A9faut/achievement", 400),
        ("/api/NOSUCH/achievement", 403),  # a well-formed code of no store: dev-key is another store's key
        ("/api/DEFAULT/achievement/" + "a" * 256, 400),
        ("/api/DEFAULT/customEvent/" + "c" * 256, 400),
        ("/api/DEFAULT/member/email=" + "m" * 300, 400),
        ("/api/DEFAULT/nothing-here", 404),
    ],
)
def test_bad_path_parameters_are_4xx_never_500(api: httpx.Client, path: str, status: int) -> None:
    response = api.get(path, headers=AUTH)
    assert response.status_code == status, response.text
    assert response.json()["code"] == status


def test_listing_values_are_bounded(api: httpx.Client) -> None:
    long = api.get("/api/DEFAULT/customEvent/schema", params={"name": "n" * 256}, headers=AUTH)
    assert _paths(long) == ["name"]
    page = api.get("/api/DEFAULT/achievement", params={"_page": str(2**31)}, headers=AUTH)
    assert _paths(page) == ["_page"]


def test_wrong_method_is_405_in_open_loyaltys_shape(api: httpx.Client) -> None:
    response = api.request("PATCH", "/api/DEFAULT/customEvent", headers=AUTH, json={})
    assert response.status_code == 405
    assert response.json() == {"code": 405, "message": "Method Not Allowed."}


def test_no_422_anywhere(api: httpx.Client) -> None:
    openapi = api.get("/openapi.json").json()
    statuses = {s for operations in openapi["paths"].values() for op in operations.values() for s in op["responses"]}
    assert "422" not in statuses
    assert "HTTPValidationError" not in openapi.get("components", {}).get("schemas", {})
    for path, operations in openapi["paths"].items():
        if path.startswith("/api/{storeCode}/"):
            for method, operation in operations.items():
                assert {"400", "401", "403", "404", "413", "429", "503"} <= set(operation["responses"]), (method, path)


# -- regressions schemathesis found ---------------------------------------------------------------------
def test_patch_with_an_object_as_rule_id_is_400(api: httpx.Client) -> None:
    achievement = post(api, "/api/DEFAULT/achievement", LOGIN_STREAK)["achievementId"]
    patch = {"achievement": {"rules": [{"achievementRuleId": {}, "translations": {"en": {}}}]}}
    response = api.patch(f"/api/DEFAULT/achievement/{achievement}", json=patch, headers=AUTH)
    assert _paths(response) == ["achievement.rules[0].achievementRuleId"]


def test_member_fields_the_record_has_columns_for_are_typed(api: httpx.Client) -> None:
    # registeredAt [null, null] reached the Avro encoder: a 500.
    created = post(api, "/api/DEFAULT/member", {"customer": {"email": "typed@example.com"}})
    url = f"/api/DEFAULT/member/{created['customerId']}"
    bad = api.put(url, json={"customer": {"registeredAt": [None, None]}}, headers=AUTH)
    assert _paths(bad) == ["customer.registeredAt"]
    not_a_date = api.put(url, json={"customer": {"registeredAt": "yesterday"}}, headers=AUTH)
    assert _paths(not_a_date) == ["customer.registeredAt"]
    customer = {"email": "r@example.com", "registeredAt": "2024-05-01 10:00"}
    registered = post(api, "/api/DEFAULT/member", {"customer": customer})
    member = api.get(f"/api/DEFAULT/member/{registered['customerId']}", headers=AUTH).json()
    assert member["registeredAt"] == "2024-05-01T10:00:00+00:00"  # RFC 3339, as the contract's date-time


def test_registration_without_email_answers_without_null_email(api: httpx.Client) -> None:
    # The contract's email is a string: {"email": null} violated it.
    response = api.post("/api/DEFAULT/member", json={"customer": {"phone": "+48 600 000 001"}}, headers=AUTH)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"customerId"}
    assert response_errors("/api/{storeCode}/member", "post", 200, response.json()) == []


def test_a_malformed_label_does_not_break_the_member_list(api: httpx.Client) -> None:
    # A label without a value was stored as sent, and every GET /member of the store was then a 500.
    customer = {"email": "labels@example.com", "labels": [{"key": "only-a-key"}], "birthDate": "1990-02-03"}
    created = post(api, "/api/DEFAULT/member", {"customer": customer})
    listing = api.get("/api/DEFAULT/member", params={"email": "labels@example.com"}, headers=AUTH)
    assert listing.status_code == 200, listing.text
    assert response_errors("/api/{storeCode}/member", "get", 200, listing.json()) == []
    (item,) = listing.json()["items"]
    assert item["customerId"] == created["customerId"] and item["labels"] == []
    assert item["birthDate"] == "1990-02-03T00:00:00+00:00"  # the contract's Customer.birthDate is a date-time


# -- 429 (last: it spends DEFAULT's burst) ------------------------------------------------------------------
def test_rate_limit_is_per_store_with_retry_after(api: httpx.Client) -> None:
    statuses = []
    refused = None
    for _ in range(1100):  # past DEFAULT's burst of 1000, one a second after it
        response = api.get("/api/DEFAULT/customEvent/schema", headers=AUTH)
        statuses.append(response.status_code)
        if response.status_code == 429:
            refused = response
            break
    assert refused is not None, f"no 429 in {len(statuses)} requests"
    assert set(statuses[:-1]) == {200}
    body = _error_shape(refused, 429)
    assert "DEFAULT" in body["message"]
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after >= 1
    # Another store is not held back by DEFAULT's limit.
    assert api.get("/api/OTHER/customEvent/schema", headers=OTHER).status_code == 200
    # The unauthenticated are refused before any bucket is touched (401, not 429).
    assert api.get("/api/DEFAULT/customEvent/schema").status_code == 401
    # After Retry-After, the store is served again.
    time.sleep(retry_after)
    wait_until(
        lambda: api.get("/api/DEFAULT/customEvent/schema", headers=AUTH).status_code == 200,
        timeout=30,
        what="DEFAULT to be served again",
        interval=1.0,
    )
