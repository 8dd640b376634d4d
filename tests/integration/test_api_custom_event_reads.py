"""GET /customEvent and /customEvent/{id} from the outcomes read model, against the real broker.

The records are produced to the outcomes topic here, in the processor's record format (the contract
between the processor and the API); one test drives the real processor end to end.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain import custom_event_id
from loyalty_stream.tools.procs import wait_until
from schemas.serde import Serde
from tests.conftest import settings_for
from tests.support.contract import response_errors
from tests.support.flows import AUTH, getting_started, login_event, post
from tests.support.stack import Stack
from tests.support.topics import produce

LIST = "/api/{storeCode}/customEvent"
ITEM = "/api/{storeCode}/customEvent/{customEvent}"


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("api-event-reads"))
    s = Stack(settings, tmp_path_factory.mktemp("api-event-reads-logs")).start("api")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        yield client, settings
    s.stop()


def contract_errors(path: str, body: dict[str, Any]) -> list[str]:
    """Errors against the contract, apart from the documented deviations: `body` is the object received
    (the contract types it as an array of string maps) and `scroll.next` is null after the last page."""
    copied = copy.deepcopy(body)
    for item in copied.get("items", [copied]):
        assert isinstance(item["body"], dict)
        item["body"] = []
    if copied.get("scroll", {}).get("next", "") is None:
        copied["scroll"]["next"] = ""
    return response_errors(path, "get", 200, copied)


def outcome(
    store: str = "DEFAULT",
    *,
    type: str = "workout",
    status: str = "counted",
    customer_id: str | None = None,
    email: str = "a@example.com",
    created: str = "2024-05-01T10:00:00.000Z",
    event_id: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    ceid = custom_event_id(store, event_id) if event_id else str(uuid.uuid4())
    return {
        "storeCode": store,
        "customEventId": ceid,
        "eventId": event_id,
        "type": type,
        "eventDate": "2024-05-01T12:00:00",
        "createdAt": created,
        "customerData": {"customerId": None, "email": email, "phone": None, "loyaltyCardNumber": None},
        "customerId": customer_id,
        "body": orjson.dumps({"minutes": 30, "kind": "run"}).decode(),
        "status": status,
        "reason": reason,
        "reasons": {"a1": reason} if reason else {},
        "changedAchievements": ["a1"] if status == "counted" else [],
        "decidedAt": created,
    }


def publish(settings: Settings, *records: dict[str, Any], tombstone: bool = False) -> None:
    serde = Serde()
    for record in records:
        key = f"{record['storeCode']}:{record['customEventId']}".encode()
        value = None if tombstone else serde.encode("CustomEventOutcome", record)
        produce(settings, settings.topic_prefix + "custom-event-outcomes", value, key=key)


def get(client: httpx.Client, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params, headers=AUTH)
    assert response.status_code == status, response.text
    return response.json()


def listed(client: httpx.Client, **params: Any) -> list[str]:
    return [i["customEventId"] for i in get(client, "/api/DEFAULT/customEvent", **params)["items"]]


def wait_listed(client: httpx.Client, ids: set[str], **params: Any) -> None:
    def present() -> bool:  # 503 while the read model loads after the API started
        response = client.get("/api/DEFAULT/customEvent", params={"_itemsOnPage": 50, **params}, headers=AUTH)
        return response.status_code == 200 and ids <= {i["customEventId"] for i in response.json()["items"]}

    wait_until(present, timeout=30, what="outcomes listed")


def test_get_one_event_with_its_outcome(api) -> None:
    client, settings = api
    member = str(uuid.uuid4())
    counted = outcome(customer_id=member, event_id=f"one-{uuid.uuid4().hex}")
    publish(settings, counted)
    url = f"/api/DEFAULT/customEvent/{counted['customEventId']}"
    wait_until(lambda: client.get(url, headers=AUTH).status_code == 200, timeout=30, what="the event to appear")
    body = get(client, url)
    assert contract_errors(ITEM, body) == []
    assert body == {
        "customEventId": counted["customEventId"],
        "customerId": member,
        "type": "workout",
        "customerData": {"email": "a@example.com"},
        "body": {"minutes": 30, "kind": "run"},
        "eventDate": "2024-05-01T12:00:00+00:00",
        "createdAt": "2024-05-01T10:00:00.000Z",
        "eventId": counted["eventId"],
        "outcome": "counted",
        "reason": None,
        "reasons": {},
        "changedAchievements": ["a1"],
    }
    assert get(client, f"/api/DEFAULT/customEvent/{uuid.uuid4()}", status=404) == {"code": 404, "message": "Not Found"}
    other = client.get(url, headers={"X-AUTH-TOKEN": "other-key"})
    assert other.status_code == 403
    assert client.get(url.replace("DEFAULT", "OTHER"), headers={"X-AUTH-TOKEN": "other-key"}).status_code == 404


def test_list_filters_and_pages(api) -> None:
    client, settings = api
    tag = uuid.uuid4().hex[:8]
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    run, swim = f"run_{tag}", f"swim_{tag}"
    records = [
        outcome(type=run, customer_id=alice, created="2024-05-01T10:00:01.000Z", event_id=f"{tag}-1"),
        outcome(type=run, customer_id=bob, created="2024-05-01T10:00:02.000Z", status="no_effect", reason="too_old"),
        outcome(type=swim, customer_id=alice, created="2024-05-01T10:00:03.000Z", email="Alice@Example.com"),
        outcome(type=run, created="2024-05-01T10:00:04.000Z", status="parked", reason="member_not_registered"),
        outcome(type=swim, customer_id=bob, created="2024-05-01T10:00:05.000Z", status="no_effect", reason="too_old"),
        outcome("OTHER", type=run, customer_id=alice, created="2024-05-01T10:00:06.000Z"),
    ]
    publish(settings, *records)
    ids = [r["customEventId"] for r in records]
    wait_listed(client, set(ids[:5]))

    body = get(client, "/api/DEFAULT/customEvent", type=run)
    assert contract_errors(LIST, body) == []
    assert [i["customEventId"] for i in body["items"]] == [ids[0], ids[1], ids[3]]  # createdAt order
    assert body["total"]["filtered"] == 3 and body["total"]["all"] >= 5 and body["total"]["estimated"] is False

    assert listed(client, customerId=alice) == [ids[0], ids[2]]
    assert listed(client, customerId=alice, type=swim) == [ids[2]]
    assert listed(client, eventId=f"{tag}-1") == [ids[0]]
    assert listed(client, customEventId=ids[4]) == [ids[4]]
    assert listed(client, **{"customerData:email": "alice@example.COM", "type[in]": f"{run},{swim}"}) == [ids[2]]
    assert listed(client, type=run, outcome="no_effect") == [ids[1]]
    assert listed(client, customerId=bob, reason="too_old") == [ids[1], ids[4]]
    assert listed(client, type=run, **{"createdAt[gte]": "2024-05-01T10:00:02Z"}) == [ids[1], ids[3]]
    assert listed(client, type=run, **{"_orderBy[createdAt]": "desc"}) == [ids[3], ids[1], ids[0]]
    page = get(client, "/api/DEFAULT/customEvent", customerId=bob, _itemsOnPage=1, _page=2)
    assert [i["customEventId"] for i in page["items"]] == [ids[4]] and page["total"]["filtered"] == 2
    residual = get(client, "/api/DEFAULT/customEvent", type=swim, outcome="no_effect")
    assert residual["total"]["filtered"] == 1
    assert ids[5] not in listed(client, _itemsOnPage=50, **{"createdAt[gte]": "2024-05-01T10:00:00Z"})


def test_scroll_walks_every_event_once(api) -> None:
    client, settings = api
    kind = f"scroll_{uuid.uuid4().hex[:8]}"
    records = [outcome(type=kind, created=f"2024-05-02T10:00:{n:02d}.000Z") for n in range(7)]
    publish(settings, *records)
    wait_listed(client, {r["customEventId"] for r in records}, type=kind)
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        body = get(client, "/api/DEFAULT/customEvent", type=kind, _itemsOnPage=3, _scroll=cursor)
        assert contract_errors(LIST, body) == []
        assert set(body) == {"items", "scroll"}
        seen += [i["customEventId"] for i in body["items"]]
        cursor = body["scroll"]["next"]
        if cursor is None:
            break
    assert seen == [r["customEventId"] for r in records]
    bad = client.get("/api/DEFAULT/customEvent", params={"_scroll": "nonsense!"}, headers=AUTH)
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "_scroll"
    both = client.get("/api/DEFAULT/customEvent", params={"_scroll": "", "_orderBy[createdAt]": "desc"}, headers=AUTH)
    assert both.status_code == 400


def test_a_newer_outcome_replaces_the_old_and_a_tombstone_removes_it(api) -> None:
    client, settings = api
    member = str(uuid.uuid4())
    parked = outcome(type=f"late_{uuid.uuid4().hex[:6]}", status="parked", reason="member_not_registered")
    publish(settings, parked)
    wait_listed(client, {parked["customEventId"]}, type=parked["type"])
    assert listed(client, customerId=member) == []

    counted = {**parked, "status": "counted", "reason": None, "customerId": member, "decidedAt": "2024-05-01T11:00:00Z"}
    publish(settings, counted)
    wait_until(lambda: listed(client, customerId=member) == [parked["customEventId"]], timeout=30, what="the update")
    body = get(client, "/api/DEFAULT/customEvent", type=parked["type"])
    assert [i["outcome"] for i in body["items"]] == ["counted"] and body["total"]["filtered"] == 1

    publish(settings, counted, tombstone=True)
    url = f"/api/DEFAULT/customEvent/{parked['customEventId']}"
    wait_until(lambda: client.get(url, headers=AUTH).status_code == 404, timeout=30, what="the tombstone")
    assert listed(client, type=parked["type"]) == [] and listed(client, customerId=member) == []


@pytest.mark.parametrize(
    "params", [{"_itemsOnPage": "0"}, {"_orderBy[type]": "asc"}, {"createdAt[like]": "x"}, {"eventDate": "soon"}]
)
def test_bad_queries_are_400(api, params) -> None:
    client, _ = api
    response = client.get("/api/DEFAULT/customEvent", params=params, headers=AUTH)
    assert response.status_code == 400
    assert response_errors(LIST, "get", 400, response.json()) == []
    assert [e["path"] for e in response.json()["errors"]] == list(params)


def test_an_event_sent_over_http_is_listed_with_the_processors_outcome(stack, receiver) -> None:
    s = stack("api", "processor")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        ids = getting_started(client, receiver.url())
        accepted = post(client, "/api/DEFAULT/customEvent", login_event(event_id="read-me"))["customEventId"]
        again = post(client, "/api/DEFAULT/customEvent", login_event(event_id="read-me-again"))["customEventId"]
        url = f"/api/DEFAULT/customEvent/{again}"
        wait_until(lambda: client.get(url, headers=AUTH).status_code == 200, timeout=60, what="the outcome")
        second = get(client, url)
        assert contract_errors(ITEM, second) == []
        assert second["outcome"] == "no_effect" and second["reason"] == "frequency_limit"
        assert second["reasons"] == {ids["achievementId"]: "frequency_limit"}
        first = get(client, f"/api/DEFAULT/customEvent/{accepted}")
        assert first["outcome"] == "counted" and first["customerId"] == ids["customerId"]
        assert first["changedAchievements"] == [ids["achievementId"]] and first["eventName"] == "User Logged In"
        assert listed(client, customerId=ids["customerId"]) == [accepted, again]
