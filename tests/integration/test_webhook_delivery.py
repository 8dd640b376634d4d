"""Webhook delivery through the real sender, broker and HTTP receivers on 127.0.0.1.

One API + sender pair serves the module; each test has its own store, so fan-outs never mix. The
retry schedule is short (0.3 s, three retries) so a message's whole life fits in a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from email.utils import formatdate

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from loyalty_stream.tools.procs import free_port
from tests.conftest import settings_for
from tests.integration.test_webhook_helpers import dead_letters, message, produce, subscribe, wait_for
from tests.support.receiver import on_path
from tests.support.stack import Stack

STORES = ",".join(f"W{i}:key{i}" for i in range(1, 10))


@pytest.fixture(scope="module")
def hooks(kafka, tmp_path_factory) -> Iterator[tuple[Stack, httpx.Client]]:
    settings = settings_for(
        kafka,
        tmp_path_factory.mktemp("webhooks"),
        stores=STORES,
        webhook_retry_schedule="0.3s,0.3s,0.3s",
        webhook_retry_jitter=0.0,
        webhook_timeout_seconds=5.0,
    )
    s = Stack(settings, tmp_path_factory.mktemp("webhooks-logs")).start("api", "sender")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        yield s, client
    s.stop()


def auth(n: int) -> dict[str, str]:
    return {"X-AUTH-TOKEN": f"key{n}"}


def attempt_log(client: httpx.Client, store: int, subscription: str) -> list[dict]:
    response = client.get(f"/api/W{store}/webhook/subscription/{subscription}/attempts", headers=auth(store))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_fails_three_times_then_succeeds_with_one_message_id_and_valid_signatures(hooks, receiver) -> None:
    s, client = hooks
    receiver.responder = lambda _r, n: (503, {}) if n < 3 else (200, {})
    subscription, secret = subscribe(
        client, "W1", "key1", receiver.url("/flaky"), hmac=True, headers=[{"headerName": "X-Key", "headerValue": "k"}]
    )
    assert secret and secret.startswith("whsec_")
    [sent] = produce(s.settings, [message("W1", "c1")])

    got = receiver.wait_for(lambda rs: len(rs) >= 4, timeout=60)
    bodies = [r.json() for r in got]
    assert {b["messageId"] for b in bodies} == {sent["messageId"]}
    assert len({b["requestId"] for b in bodies}) == 4
    for request in got:
        assert request.headers["x-key"] == "k"
        assert request.headers["webhook-id"] == sent["messageId"]
        Webhook(secret).verify(request.body, request.headers)  # raises on a bad signature

    # The attempt log says the same: three retryable failures, then delivered on the fourth attempt.
    log = wait_for(lambda: (lambda items: items if len(items) == 4 else None)(attempt_log(client, 1, subscription)))
    assert [(e["attempt"], e["outcome"], e["status"]) for e in reversed(log)] == [
        (1, "retry", 503),
        (2, "retry", 503),
        (3, "retry", 503),
        (4, "delivered", 200),
    ]
    assert {e["requestId"] for e in log} == {b["requestId"] for b in bodies}
    assert all(e["nextAttemptAt"] for e in log if e["outcome"] == "retry")
    assert len(receiver.received) == 4


def test_client_error_is_not_retried_and_a_dlq_range_can_be_resent(hooks, receiver) -> None:
    s, client = hooks
    fixed = False
    receiver.responder = lambda _r, _n: (200, {}) if fixed else (400, {})
    subscription, _ = subscribe(client, "W2", "key2", receiver.url("/strict"))
    [sent] = produce(s.settings, [message("W2", "c2")])

    rows = dead_letters(s.settings, lambda rs: any(r["messageId"] == sent["messageId"] for r in rs))
    record, headers = next((r, h) for r, h in rows if r["messageId"] == sent["messageId"])
    assert (record["reason"], record["lastStatus"], record["attempt"]) == ("not_retryable", 400, 1)
    assert record["subscriptionId"] == subscription
    assert headers["loyalty-reason"] == b"not_retryable"
    assert headers["loyalty-status"] == b"400"
    # Dead-lettered means decided: no retry can follow, so one request is all it ever got.
    assert len(receiver.received) == 1

    listed = client.get("/api/W2/webhook/deadLetter", headers=auth(2)).json()
    assert listed["total"] == 1
    item = listed["items"][0]
    assert (item["messageId"], item["reason"], item["lastStatus"]) == (sent["messageId"], "not_retryable", 400)

    fixed = True
    response = client.post(
        "/api/W2/webhook/deadLetter/resend",
        json={"partition": item["partition"], "fromOffset": item["offset"], "toOffset": item["offset"] + 1},
        headers=auth(2),
    )
    assert response.status_code == 200, response.text
    assert response.json()["messageIds"] == [sent["messageId"]]
    got = receiver.wait_for(lambda rs: len(rs) >= 2)
    assert got[1].json()["messageId"] == sent["messageId"]


def test_gone_disables_the_subscription_until_it_is_enabled(hooks, receiver) -> None:
    s, client = hooks
    receiver.responder = lambda r, n: (410, {}) if r.path == "/gone" and n == 0 else (200, {})
    subscription, _ = subscribe(client, "W3", "key3", receiver.url("/gone"))
    subscribe(client, "W3", "key3", receiver.url("/witness"))  # shows when a message has been fanned out
    one = f"/api/W3/webhook/subscription/{subscription}"
    first, second, third = message("W3", "c3", 1), message("W3", "c3", 2), message("W3", "c3", 3)
    produce(s.settings, [first])

    def disabled() -> dict | None:
        body = client.get(one, headers=auth(3)).json()
        return body if body["status"] == "disabled" else None

    assert "410" in wait_for(disabled, what="the subscription to be disabled")["statusReason"]
    rows = dead_letters(s.settings, lambda rs: any(r["messageId"] == first["messageId"] for r in rs))
    assert [r["reason"] for r, _h in rows if r["messageId"] == first["messageId"]] == ["gone"]

    produce(s.settings, [second])  # fans out while disabled: not to this subscription
    receiver.wait_for(lambda rs: any(r.json()["messageId"] == second["messageId"] for r in on_path(rs, "/witness")))
    assert client.post(one + "/enable", headers=auth(3)).status_code == 204
    assert client.get(one, headers=auth(3)).json()["status"] == "active"
    produce(s.settings, [third])

    got = receiver.wait_for(lambda rs: any(r.json()["messageId"] == third["messageId"] for r in on_path(rs, "/gone")))
    assert [r.json()["messageId"] for r in on_path(got, "/gone")] == [first["messageId"], third["messageId"]]


def test_no_retry_comes_before_its_retry_after(hooks, receiver) -> None:
    s, client = hooks
    answers: list[tuple[int, dict[str, str]]] = []

    def responder(_request, n):
        if n == 0:
            answers.append((429, {"Retry-After": "2"}))
        elif n == 1:
            answers.append((503, {"Retry-After": "1"}))
        elif n == 2:  # an HTTP date, 2 s from now rounded down to the second
            answers.append((503, {"Retry-After": formatdate(time.time() + 2, usegmt=True)}))
        else:
            answers.append((200, {}))
        return answers[-1]

    receiver.responder = responder
    subscribe(client, "W4", "key4", receiver.url("/busy"))
    produce(s.settings, [message("W4", "c4")])

    got = receiver.wait_for(lambda rs: len(rs) >= 4, timeout=60)
    assert got[1].at - got[0].at >= 2.0
    assert got[2].at - got[1].at >= 1.0
    from email.utils import parsedate_to_datetime

    assert got[3].at >= parsedate_to_datetime(answers[2][1]["Retry-After"]).timestamp()


def test_a_message_that_never_succeeds_ends_on_the_dlq_and_can_be_resent(hooks, receiver) -> None:
    s, client = hooks
    fixed = False
    receiver.responder = lambda _r, _n: (200, {}) if fixed else (500, {})
    failing, _ = subscribe(client, "W5", "key5", receiver.url("/down"))
    closed, _ = subscribe(client, "W5", "key5", f"http://127.0.0.1:{free_port()}/nobody")
    [sent] = produce(s.settings, [message("W5", "c5")])

    def both(records):
        return {r["subscriptionId"] for r in records if r["messageId"] == sent["messageId"]} == {failing, closed}

    rows = {
        r["subscriptionId"]: (r, h) for r, h in dead_letters(s.settings, both) if r["messageId"] == sent["messageId"]
    }
    record, headers = rows[failing]
    assert (record["reason"], record["attempt"], record["lastStatus"]) == ("retries_exhausted", 4, 500)
    assert record["lastError"].startswith("HTTP 500")
    assert (headers["loyalty-status"], headers["loyalty-attempts"]) == (b"500", b"4")
    assert "secret" not in record["subscriptionSnapshot"] or '"secret":null' in record["subscriptionSnapshot"]
    record, headers = rows[closed]
    assert (record["reason"], record["attempt"], record["lastStatus"]) == ("retries_exhausted", 4, None)
    assert record["lastError"].startswith("connection error")
    assert len(on_path(receiver.received, "/down")) == 4

    fixed = True
    response = client.post(
        f"/api/W5/webhook/deadLetter/{sent['messageId']}/resend", params={"subscriptionId": failing}, headers=auth(5)
    )
    assert response.status_code == 200, response.text
    assert response.json()["resent"] == 1
    got = receiver.wait_for(lambda rs: len(rs) >= 5)
    assert got[4].json()["messageId"] == sent["messageId"]


def test_test_send_and_secret_rotation(hooks, receiver) -> None:
    s, client = hooks
    subscription, old_secret = subscribe(client, "W6", "key6", receiver.url("/signed"), hmac=True)
    one = f"/api/W6/webhook/subscription/{subscription}"
    response = client.post(one + "/test", headers=auth(6))
    assert response.status_code == 200, response.text
    [test] = receiver.wait_for(lambda rs: len(rs) >= 1)
    assert test.json()["eventName"] == "WebhookTest"
    assert test.json()["messageId"] == response.json()["messageId"]
    Webhook(old_secret).verify(test.body, test.headers)

    rotated = client.post(one + "/secret", headers=auth(6))
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert "secret" not in client.get(one, headers=auth(6)).json()
    produce(s.settings, [message("W6", "c6")])
    got = receiver.wait_for(lambda rs: len(rs) >= 2)
    # Both secrets verify during the grace period: receivers can switch whenever they like.
    Webhook(new_secret).verify(got[1].body, got[1].headers)
    Webhook(old_secret).verify(got[1].body, got[1].headers)


def test_the_sender_follows_subscription_changes_without_a_restart(hooks, receiver) -> None:
    s, client = hooks
    receiver.responder = lambda r, _n: (200, {}) if r.path != "/retrying" else (503, {})
    subscription, _ = subscribe(client, "W7", "key7", receiver.url("/before"))
    one = f"/api/W7/webhook/subscription/{subscription}"
    produce(s.settings, [message("W7", "c7", 1)])
    receiver.wait_for(lambda rs: len(on_path(rs, "/before")) == 1)

    put = client.put(one, json={"webhookSubscription": {"url": receiver.url("/after")}}, headers=auth(7))
    assert put.status_code == 204, put.text
    produce(s.settings, [message("W7", "c7", 2)])
    receiver.wait_for(lambda rs: len(on_path(rs, "/after")) == 1)

    # A retry that comes due after its subscription was deleted is dead-lettered with that reason.
    assert (
        client.put(one, json={"webhookSubscription": {"url": receiver.url("/retrying")}}, headers=auth(7)).status_code
        == 204
    )
    [pending] = produce(s.settings, [message("W7", "c7", 3)])
    receiver.wait_for(lambda rs: len(on_path(rs, "/retrying")) >= 1)
    assert client.delete(one, headers=auth(7)).status_code == 204
    assert client.get(one, headers=auth(7)).status_code == 404
    rows = dead_letters(s.settings, lambda rs: any(r["messageId"] == pending["messageId"] for r in rs))
    [record] = [r for r, _h in rows if r["messageId"] == pending["messageId"]]
    assert record["reason"] == "subscription_deleted"


def test_sender_serves_health_readiness_and_metrics(hooks, receiver) -> None:
    s, client = hooks
    subscribe(client, "W8", "key8", receiver.url("/metered"))
    produce(s.settings, [message("W8", "c8")])
    receiver.wait_for(lambda rs: len(rs) == 1)
    base = f"http://127.0.0.1:{s.settings.sender_port}"
    assert httpx.get(base + "/health").status_code == 200
    assert httpx.get(base + "/ready").status_code == 200

    def metrics() -> str:
        text = httpx.get(base + "/metrics").text
        return text if 'loyalty_webhook_deliveries_total{host="127.0.0.1"}' in text else ""

    text = wait_for(metrics, what="the delivery in the metrics")
    assert 'loyalty_webhook_attempt_seconds_bucket{host="127.0.0.1",le="+Inf"}' in text
    for name in (
        "loyalty_webhook_failures_total",
        "loyalty_webhook_retries_total",
        "loyalty_webhook_dead_letters_total",
    ):
        assert f"# TYPE {name} counter" in text
