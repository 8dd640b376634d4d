"""Subscriptions over HTTP as Open Loyalty's contract has them, and destinations the settings refuse.

This module's stack runs with loopback and private destinations refused (the production default).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import settings_for
from tests.integration.test_webhook_helpers import EVENT, dead_letters, message, produce, subscribe
from tests.support.contract import response_errors
from tests.support.stack import Stack

AUTH = {"X-AUTH-TOKEN": "dev-key"}
LIST = "/api/{storeCode}/webhook/subscription"
ONE = "/api/{storeCode}/webhook/subscription/{webhookSubscription}"


@pytest.fixture(scope="module")
def strict(kafka, tmp_path_factory) -> Iterator[tuple[Stack, httpx.Client]]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("strict"), webhook_allow_loopback=False)
    s = Stack(settings, tmp_path_factory.mktemp("strict-logs")).start("api", "sender")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        yield s, client
    s.stop()


def test_create_list_get_update_delete_match_the_contract(strict) -> None:
    _s, client = strict
    body = {
        "webhookSubscription": {
            "eventName": "AchievementCreated",
            "url": "https://hooks.example.com/achievements",
            "headers": [{"headerName": "X-Api-Key", "headerValue": "k1"}],
        }
    }
    created = client.post("/api/DEFAULT/webhook/subscription", json=body, headers=AUTH)
    assert created.status_code == 200, created.text
    assert response_errors(LIST, "post", 200, created.json()) == []
    assert "secret" not in created.json()  # no HMAC asked for
    sid = created.json()["webhookSubscriptionId"]
    one = f"/api/DEFAULT/webhook/subscription/{sid}"

    got = client.get(one, headers=AUTH)
    assert got.status_code == 200
    assert response_errors(ONE, "get", 200, got.json()) == []
    assert got.json()["headers"] == [{"headerName": "X-Api-Key", "headerValue": "k1"}]
    assert (got.json()["eventName"], got.json()["status"], got.json()["hmacEnabled"]) == (
        "AchievementCreated",
        "active",
        False,
    )

    listed = client.get("/api/DEFAULT/webhook/subscription", params={"eventName": "AchievementCreated"}, headers=AUTH)
    assert listed.status_code == 200
    assert response_errors(LIST, "get", 200, listed.json()) == []
    assert [i["webhookSubscriptionId"] for i in listed.json()["items"]] == [sid]
    assert listed.json()["total"]["filtered"] == 1

    # The deprecated single-header form is folded into headers.
    put = client.put(
        one,
        json={
            "webhookSubscription": {"url": "https://hooks.example.com/v2", "headerName": "X-Old", "headerValue": "v"}
        },
        headers=AUTH,
    )
    assert put.status_code == 204, put.text
    assert response_errors(ONE, "put", 204, None) == []
    updated = client.get(one, headers=AUTH).json()
    assert updated["url"] == "https://hooks.example.com/v2"
    assert updated["headers"] == [{"headerName": "X-Old", "headerValue": "v"}]

    deleted = client.delete(one, headers=AUTH)
    assert deleted.status_code == 204
    missing = client.get(one, headers=AUTH)
    assert missing.status_code == 404
    assert response_errors(ONE, "get", 404, missing.json()) == []
    assert client.delete(one, headers=AUTH).status_code == 404
    assert client.get(f"/api/DEFAULT/webhook/subscription/{uuid.uuid4()}", headers=AUTH).status_code == 404


def test_hmac_secret_is_returned_once_and_other_stores_cannot_see_it(strict) -> None:
    _s, client = strict
    sid, secret = subscribe(client, "DEFAULT", "dev-key", "https://hooks.example.com/signed", hmac=True)
    assert secret is not None and secret.startswith("whsec_")
    one = f"/api/DEFAULT/webhook/subscription/{sid}"
    assert client.get(one, headers=AUTH).json()["hmacEnabled"] is True
    assert "secret" not in client.get(one, headers=AUTH).text
    assert client.get(one, headers={"X-AUTH-TOKEN": "other-key"}).status_code == 403
    assert (
        client.get(f"/api/OTHER/webhook/subscription/{sid}", headers={"X-AUTH-TOKEN": "other-key"}).status_code == 404
    )
    assert client.get(one).status_code == 401


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("eventName", "SomethingElse", "unknown_event"),
        ("eventName", "CustomEventWasCreated", "unknown_event"),
        ("url", "ftp://hooks.example.com/x", "invalid_url"),
        ("url", "not a url", "invalid_url"),
        ("url", "http://127.0.0.1:8080/hook", "url_not_allowed"),
        ("url", "http://[::1]/hook", "url_not_allowed"),
        ("url", "http://10.0.0.7/hook", "url_not_allowed"),
        ("url", "http://169.254.169.254/latest/meta-data", "url_not_allowed"),
    ],
)
def test_refused_subscriptions_get_open_loyaltys_400(strict, field: str, value: str, code: str) -> None:
    _s, client = strict
    body = {"webhookSubscription": {"eventName": EVENT, "url": "https://hooks.example.com/x", field: value}}
    response = client.post("/api/DEFAULT/webhook/subscription", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response_errors(LIST, "post", 400, response.json()) == []
    [error] = response.json()["errors"]
    assert (error["path"], error["code"]) == (f"webhookSubscription.{field}", code)


def test_a_name_that_resolves_to_loopback_is_refused_at_delivery(strict, receiver) -> None:
    s, client = strict
    sid, _ = subscribe(client, "DEFAULT", "dev-key", f"http://localhost:{receiver.port}/hook")
    [sent] = produce(s.settings, [message("DEFAULT", "c-refused")])
    rows = dead_letters(s.settings, lambda rs: any(r["messageId"] == sent["messageId"] for r in rs))
    [record] = [r for r, _h in rows if r["messageId"] == sent["messageId"]]
    assert (record["reason"], record["subscriptionId"]) == ("destination_refused", sid)
    assert "loopback" in record["lastError"]
    assert receiver.received == []
