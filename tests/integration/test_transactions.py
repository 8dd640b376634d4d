"""Transactions as a trigger (issue 15), end to end on the real broker: POST /transaction → processor → progress
webhook, the same document counted once, the transaction webhooks, Kafka-direct JSON transactions, unmatched
ones and their assignment, and the reads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import wait_until
from tests.support.contract import response_errors, webhook_errors
from tests.support.flows import AUTH, JOHN, post
from tests.support.topics import control_offsets, produce

SPEND_100_A_WEEK = {
    "achievement": {
        "translations": {"en": {"name": "Spend 100 in a week"}},
        "active": True,
        "rules": [
            {
                "trigger": "transaction",
                "type": "direct",
                "aggregation": {"rule": "transaction.grossValue"},
                "completeRule": {"periodGoal": 100, "period": {"type": "week"}},
                "translations": {"en": {"name": "Spend 100"}},
            }
        ],
    }
}


def purchase(document: str, *amounts: float, email: str | None = "john.smith@example.com") -> dict[str, Any]:
    when = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    transaction: dict[str, Any] = {
        "header": {"documentNumber": document, "purchasedAt": when, "purchasePlace": "Warsaw"},
        "items": [
            {"sku": f"SKU-{i}", "name": "Shoes", "grossValue": amount, "category": "shoes", "quantity": 1}
            for i, amount in enumerate(amounts)
        ],
    }
    if email is not None:
        transaction["customerData"] = {"email": email}
    return {"transaction": transaction}


def decided(client: httpx.Client, transaction_id: str) -> dict[str, Any]:
    url = f"/api/DEFAULT/transaction/{transaction_id}"
    wait_until(lambda: client.get(url, headers=AUTH).status_code == 200, timeout=60, what=f"transaction {url}")
    found: dict[str, Any] = client.get(url, headers=AUTH).json()
    return found


def without_ours(body: dict[str, Any]) -> dict[str, Any]:
    """The Transaction as the contract has it: our outcome fields left out (they are additions)."""
    return {k: v for k, v in body.items() if k not in ("outcome", "reason", "reasons", "changedAchievements")}


def test_spend_100_in_a_week_over_http_counts_each_document_once(stack, receiver) -> None:
    s = stack("api", "processor", "sender")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        achievement = post(client, "/api/DEFAULT/achievement", SPEND_100_A_WEEK)["achievementId"]
        member = post(client, "/api/DEFAULT/member", JOHN)["customerId"]
        for name in ("MemberAchievementProgressWasChanged", "TransactionRegistered", "TransactionAssignedToCustomer"):
            subscription = {"eventName": name, "url": receiver.url(f"/{name}")}
            post(client, "/api/DEFAULT/webhook/subscription", {"webhookSubscription": subscription})
        first = post(client, "/api/DEFAULT/transaction", purchase("INV-1", 40, 20))
        again = post(client, "/api/DEFAULT/transaction", purchase("INV-1", 40, 20))
        assert again == first and response_errors("/api/{storeCode}/transaction", "post", 200, first) == []
        second = post(client, "/api/DEFAULT/transaction", purchase("INV-2", 45))["transactionId"]

        progress_hooks = "/MemberAchievementProgressWasChanged"
        got = receiver.wait_for(lambda rs: sum(r.path == progress_hooks for r in rs) >= 2, timeout=60)
        bodies = [r.json() for r in got if r.path == progress_hooks]
        assert [webhook_errors("MemberAchievementProgressWasChanged", b) for b in bodies] == [[], []]
        assert [b["data"]["trigger"]["type"] for b in bodies] == ["transaction", "transaction"]
        assert [b["data"]["trigger"]["documentNumber"] for b in bodies] == ["INV-1", "INV-2"]
        progress = [b["data"]["achievement"]["memberProgress"] for b in bodies]
        assert [p["completedCount"] for p in progress] == [0, 1]  # 60, then 60 + 45 >= 100

        view = decided(client, second)
        assert (view["outcome"], view["customerId"], view["matched"]) == ("counted", member, True)
        assert view["changedAchievements"] == [achievement] and view["grossValue"] == 45
        assert response_errors("/api/{storeCode}/transaction/{transaction}", "get", 200, without_ours(view)) == []
        listed = client.get("/api/DEFAULT/transaction", params={"customerId": member}, headers=AUTH).json()
        assert [t["transactionId"] for t in listed["items"]] == [first["transactionId"], second]
        assert listed["total"]["all"] == 2
        scrolled = client.get("/api/DEFAULT/transaction", params={"customerId": member, "_scroll": ""}, headers=AUTH)
        assert len(scrolled.json()["items"]) == 2 and not isinstance(scrolled.json().get("scroll"), dict)
        # The custom events' list does not show transactions.
        assert client.get("/api/DEFAULT/customEvent", headers=AUTH).json()["items"] == []
        # INV-1 twice was one transaction: one progress webhook, one assignment (its registration may repeat,
        # with the same messageId)
        others = receiver.wait_for(lambda rs: len({r.json()["messageId"] for r in rs}) >= 6, timeout=60)
        by_name: dict[str, set[str]] = {}
        for hook in others:
            body = hook.json()
            assert webhook_errors(body["eventName"], body) == [], body
            by_name.setdefault(body["eventName"], set()).add(body["messageId"])
        assert {name: len(ids) for name, ids in by_name.items()} == {
            "MemberAchievementProgressWasChanged": 2,
            "TransactionRegistered": 2,
            "TransactionAssignedToCustomer": 2,
        }
        assigned = next(h.json()["data"] for h in others if h.path == "/TransactionAssignedToCustomer")
        assert assigned["customer"]["customerId"] == member and assigned["transactionId"] in (
            first["transactionId"],
            second,
        )


def test_transactions_straight_to_kafka_naming_nobody_or_refused(stack, make_settings) -> None:
    settings = make_settings()
    s = stack("api", "processor", settings=settings)
    with httpx.Client(base_url=s.api, timeout=30) as client:
        post(client, "/api/DEFAULT/achievement", SPEND_100_A_WEEK)
        member = post(client, "/api/DEFAULT/member", JOHN)["customerId"]
        topic = build_topics(settings).custom_events.name
        # stamped with the control plane written so far, as the API stamps its events: otherwise the worker may
        # meet the record before its copy has the achievement, and rightly count it for nobody
        stamp = {"controlOffsets": control_offsets(settings)}
        produce(settings, topic, orjson.dumps({"storeCode": "DEFAULT", **purchase("K-1", 150), **stamp}))
        listed = {"header:documentNumber": "K-1"}
        wait_until(
            lambda: client.get("/api/DEFAULT/transaction", params=listed, headers=AUTH).json()["items"],
            timeout=60,
            what="the Kafka-direct transaction",
        )
        [view] = client.get("/api/DEFAULT/transaction", params=listed, headers=AUTH).json()["items"]
        assert view["outcome"] == "counted" and view["header"]["documentNumber"] == "K-1"

        anonymous = post(client, "/api/DEFAULT/transaction", purchase("ANON-1", 10, email=None))["transactionId"]
        view = decided(client, anonymous)
        assert (view["outcome"], view["reason"], view["matched"]) == ("unmatched", "no_customer_data", False)

        assign = "/api/DEFAULT/transaction/assign"
        stranger = {"assign": {"transactionDocumentNumber": "ANON-1", "customerId": str(uuid.uuid4())}}
        nobody = client.post(assign, json=stranger, headers=AUTH)
        assert nobody.status_code == 400 and nobody.json()["errors"][0]["path"] == "assign.customerId"
        answer = post(client, assign, {"assign": {"transactionDocumentNumber": "ANON-1", "customerId": member}})
        assert answer == {"transactionId": anonymous, "customerId": member}
        assert response_errors("/api/{storeCode}/transaction/assign", "post", 200, answer) == []
        twice = client.post(assign, json={"assign": {**stranger["assign"], "customerId": member}}, headers=AUTH)
        assert twice.status_code == 400
        assert response_errors("/api/{storeCode}/transaction/assign", "post", 400, twice.json()) == []
        wait_until(lambda: decided(client, anonymous)["matched"], timeout=60, what="the assignment")
        view = decided(client, anonymous)
        # decided for the member now (this week's goal was reached by K-1: no effect, "too_old")
        assert (view["customerId"], view["outcome"], view["reason"]) == (member, "no_effect", "too_old")

        refused = client.post("/api/DEFAULT/transaction", json={"transaction": {"items": []}}, headers=AUTH)
        assert refused.status_code == 400
        assert response_errors("/api/{storeCode}/transaction", "post", 400, refused.json()) == []
        assert "transaction.header" in [e["path"] for e in refused.json()["errors"]]
