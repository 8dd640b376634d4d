from __future__ import annotations

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ingest_api.routes.webhooks import new_secret
from tests.support.samples import WEBHOOK_MESSAGE
from webhook_sender.delivery import classify, retry_after_seconds
from webhook_sender.envelope import envelope, request_headers

MESSAGE = WEBHOOK_MESSAGE


def test_envelope_has_open_loyalty_fields_and_new_request_ids() -> None:
    first, second = orjson.loads(envelope(MESSAGE)), orjson.loads(envelope(MESSAGE))
    assert set(first) == {"messageId", "requestId", "eventName", "storeCode", "createdAt", "data"}
    assert first["messageId"] == second["messageId"]
    assert first["requestId"] != second["requestId"]
    assert first["data"] == {"a": 1}


def test_signature_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    body = envelope(MESSAGE)
    headers = request_headers(
        {"hmacEnabled": True, "secret": secret, "headers": []},
        MESSAGE["messageId"],
        body,
        int(__import__("time").time()),
    )
    Webhook(secret).verify(body, headers)  # raises on a bad signature
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)


def test_subscription_headers_are_sent_and_no_signature_without_hmac() -> None:
    headers = request_headers({"headers": [{"headerName": "X-Key", "headerValue": "v"}]}, "m", b"{}", 1)
    assert headers["X-Key"] == "v"
    assert "webhook-signature" not in headers


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (301, "dead"),
        (400, "dead"),
        (404, "dead"),
        (408, "retry"),
        (410, "gone"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_classify(status: int, verdict: str) -> None:
    assert classify(status) == verdict


def test_retry_after() -> None:
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert 0 <= retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    old, new = new_secret(), new_secret()
    body = envelope(MESSAGE)
    subscription = {"hmacEnabled": True, "secret": new, "headers": []}
    headers = request_headers(subscription, MESSAGE["messageId"], body, int(__import__("time").time()), [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)


def test_subscription_headers_cannot_replace_ours() -> None:
    subscription = {
        "hmacEnabled": True,
        "secret": new_secret(),
        "headers": [
            {"headerName": "Content-Type", "headerValue": "text/plain"},
            {"headerName": "webhook-id", "headerValue": "forged"},
            {"headerName": "User-Agent", "headerValue": "theirs"},
        ],
    }
    headers = request_headers(subscription, "m-1", b"{}", 1)
    assert headers["Content-Type"] == "application/json"
    assert headers["webhook-id"] == "m-1"
    assert headers["User-Agent"] == "theirs"


def test_retry_after_as_http_date_is_measured_from_now() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert retry_after_seconds("-5") == 0
