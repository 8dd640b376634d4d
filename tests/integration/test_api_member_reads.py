"""GET /member, /member/{member} and /member/{member}/achievement against the real broker.

Members are produced to the members topic and progress to the processor's progress changelog here, in
their documented record formats; one test drives the real processor end to end.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain import Event, MemberRef, MemberState, parse_achievement, process_event
from loyalty_stream.tools.procs import wait_until
from schemas.serde import Serde
from tests.conftest import settings_for
from tests.support.contract import response_errors
from tests.support.flows import AUTH, LOGIN_STREAK, getting_started, login_event, post
from tests.support.stack import Stack
from tests.support.topics import produce

LIST = "/api/{storeCode}/member"
ITEM = "/api/{storeCode}/member/{member}"
PROGRESS = "/api/{storeCode}/member/{member}/achievement"


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[tuple[httpx.Client, Settings]]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("api-member-reads"))
    s = Stack(settings, tmp_path_factory.mktemp("api-member-reads-logs")).start("api")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        yield client, settings
    s.stop()


def member(store: str = "DEFAULT", **fields: Any) -> dict[str, Any]:
    attributes = fields.pop("attributes", {})
    return {
        "storeCode": store,
        "customerId": str(uuid.uuid4()),
        "email": None,
        "phone": None,
        "loyaltyCardNumber": None,
        "firstName": None,
        "lastName": None,
        "active": True,
        "registeredAt": "2024-05-01T10:00:00.000Z",
        "updatedAt": "2024-05-01T10:00:00.000Z",
        "attributes": orjson.dumps(attributes).decode(),
        "version": 1,
        **fields,
    }


def publish_members(settings: Settings, *records: dict[str, Any]) -> None:
    serde = Serde()
    for record in records:
        key = f"{record['storeCode']}:{record['customerId']}".encode()
        produce(settings, settings.topic_prefix + "members", serde.encode("Member", record), key=key)


def get(client: httpx.Client, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params, headers=AUTH)
    assert response.status_code == status, response.text
    return response.json()


def wait_found(client: httpx.Client, path: str) -> None:
    wait_until(lambda: client.get(path, headers=AUTH).status_code == 200, timeout=30, what=f"{path} to be found")


def test_get_member_by_any_identifier(api) -> None:
    client, settings = api
    tag = uuid.uuid4().hex[:8]
    record = member(
        email=f"John.{tag}@Example.com",
        phone=f"+48 600-{tag[:3]}",
        loyaltyCardNumber=f"CARD-{tag}",
        firstName="John",
        lastName="Smith",
        attributes={"gender": "male", "agreement1": True, "address": {"city": "Kraków", "zip": 1}, "odd": "x"},
    )
    publish_members(settings, record)
    wait_found(client, f"/api/DEFAULT/member/{record['customerId']}")
    body = get(client, f"/api/DEFAULT/member/{record['customerId']}")
    assert response_errors(ITEM, "get", 200, body) == []
    assert body == {
        "customerId": record["customerId"],
        "active": True,
        "storeCode": "DEFAULT",
        "firstName": "John",
        "lastName": "Smith",
        "email": f"John.{tag}@Example.com",
        "phone": f"+48 600-{tag[:3]}",
        "loyaltyCardNumber": f"CARD-{tag}",
        "registeredAt": "2024-05-01T10:00:00.000Z",
        "createdAt": "2024-05-01T10:00:00.000Z",
        "updatedAt": "2024-05-01T10:00:00.000Z",
        "gender": "male",
        "agreement1": True,
        "address": {"city": "Kraków"},
    }
    for ref in (f"email=john.{tag}@example.com", f"phone=+48600{tag[:3]}", f"loyaltyCardNumber=CARD-{tag}"):
        assert get(client, f"/api/DEFAULT/member/{ref}")["customerId"] == record["customerId"]
    get(client, f"/api/DEFAULT/member/loyaltyCardNumber=card-{tag}", status=404)  # card numbers are exact
    get(client, f"/api/DEFAULT/member/{uuid.uuid4()}", status=404)
    other = client.get(f"/api/OTHER/member/{record['customerId']}", headers={"X-AUTH-TOKEN": "other-key"})
    assert other.status_code == 404


def test_list_filters_pages_and_scrolls(api) -> None:
    client, settings = api
    tag = uuid.uuid4().hex[:8]
    records = [
        member(
            email=f"{tag}-{n}@example.com", firstName=f"N{n}", lastName=tag, registeredAt=f"2024-05-0{n + 1}T00:00:00Z"
        )
        for n in range(5)
    ]
    records[3]["active"] = False
    publish_members(settings, *records, member("OTHER", lastName=tag))
    ids = [r["customerId"] for r in records]

    def listed(**params: Any) -> list[str]:
        return [i["customerId"] for i in get(client, "/api/DEFAULT/member", lastName=tag, **params)["items"]]

    wait_until(lambda: len(listed()) == 5, timeout=30, what="members listed")
    body = get(client, "/api/DEFAULT/member", lastName=tag, _itemsOnPage=2, _page=2)
    assert response_errors(LIST, "get", 200, body) == []
    assert [i["customerId"] for i in body["items"]] == ids[2:4]  # registeredAt order
    assert body["total"]["filtered"] == 5 and body["total"]["all"] >= 5
    assert listed(active="false") == [ids[3]]
    assert listed(email=f"{tag.upper()}-1@EXAMPLE.com") == [ids[1]]
    assert listed(**{"firstName[in]": "N0,N4"}) == [ids[0], ids[4]]
    assert listed(**{"registeredAt[lt]": "2024-05-03T00:00:00Z"}) == ids[:2]
    assert listed(**{"_orderBy[firstName]": "desc"}) == ids[::-1]

    seen, cursor = [], ""
    for _ in range(5):
        page = get(client, "/api/DEFAULT/member", lastName=tag, _itemsOnPage=2, _scroll=cursor)
        seen += [i["customerId"] for i in page["items"]]
        cursor = page["scroll"]["next"]
        if cursor is None:
            break
    assert seen == ids
    refused = client.get("/api/DEFAULT/member", params={"transactionsCount": "3"}, headers=AUTH)
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "transactionsCount"
    assert response_errors(LIST, "get", 400, refused.json()) == []


def progress_record(achievement: dict[str, Any], achievement_id: str, customer_id: str, days: int) -> bytes:
    """The processor's progress-changelog value after ``days`` daily logins ending today."""
    parsed = parse_achievement(achievement, achievement_id=achievement_id, store_code="DEFAULT")
    state, now = MemberState.empty(), datetime.now(UTC)
    for day in range(days):
        moment = now - timedelta(days=days - 1 - day)
        event = Event(str(uuid.uuid4()), None, "app_login", moment, {}, moment)
        state = process_event(
            state, event, [parsed], MemberRef(customer_id), store_code="DEFAULT", tz=UTC, now=now
        ).state
    return orjson.dumps({"p": state.to_dict()["p"]})


def test_member_achievements_come_from_the_progress_changelog(api) -> None:
    client, settings = api
    tag = uuid.uuid4().hex[:8]
    record = member(email=f"p-{tag}@example.com")
    publish_members(settings, record)
    achievement_id = post(client, "/api/DEFAULT/achievement", LOGIN_STREAK)["achievementId"]
    path = f"/api/DEFAULT/member/email=p-{tag}@example.com/achievement"
    wait_found(client, path)

    before = get(client, path, achievementId=achievement_id)
    assert response_errors(PROGRESS, "get", 200, before) == []
    assert before["items"][0]["memberProgress"]["rules"][0]["currentPeriodValue"] == 0

    changelog = f"{settings.processor_app_id}-progress-changelog"
    key = f"DEFAULT:{record['customerId']}".encode()
    today = datetime.now(UTC).date()
    value = progress_record(LOGIN_STREAK["achievement"], achievement_id, record["customerId"], 3)
    produce(settings, changelog, value, key)

    def streak() -> int:
        item = get(client, path, achievementId=achievement_id)["items"][0]
        return item["memberProgress"]["rules"][0]["completedConsecutivePeriods"]

    wait_until(lambda: streak() == 3, timeout=30, what="the progress to be read")
    body = get(client, path, achievementId=achievement_id)
    assert response_errors(PROGRESS, "get", 200, body) == []
    item = body["items"][0]
    # today's login counts today; should midnight pass since the state was built, yesterday's streak still shows
    current = 1 if datetime.now(UTC).date() == today else 0
    assert item["achievementName"] == "Maintain a 7-day login streak" and item["limitReached"] is False
    assert item["memberProgress"]["rules"][0] == {
        "achievementRuleId": item["memberProgress"]["rules"][0]["achievementRuleId"],
        "periodGoal": 1,
        "currentPeriodValue": current,
        "periodType": "last_day",
        "consecutivePeriods": 7,
        "completedConsecutivePeriods": 3,
        "type": "direct",
        "trigger": "custom_event",
        "periodValue": 7,
    }
    assert get(client, path, completionCount=1, achievementId=achievement_id)["items"] == []

    produce(settings, changelog, None, key)  # a tombstone: the member's progress was deleted
    wait_until(lambda: streak() == 0, timeout=30, what="the tombstone to be read")
    get(client, "/api/DEFAULT/member/email=nobody@example.com/achievement", status=404)


def test_progress_of_a_real_member_through_the_processor(stack, receiver) -> None:
    s = stack("api", "processor")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        ids = getting_started(client, receiver.url())
        post(client, "/api/DEFAULT/customEvent", login_event(event_id="progress-1"))
        path = "/api/DEFAULT/member/email=John.Smith@example.com/achievement"

        def current() -> int:
            # POST /member answers once the processor claimed the member; this API's copy of the members
            # topic may read it a moment later (404 until then)
            response = client.get(path, headers=AUTH)
            items = response.json()["items"] if response.status_code == 200 else []
            return items[0]["memberProgress"]["rules"][0]["currentPeriodValue"] if items else -1

        wait_until(lambda: current() == 1, timeout=60, what="John's progress")
        body = get(client, path)
        assert response_errors(PROGRESS, "get", 200, body) == []
        assert body["items"][0]["achievementId"] == ids["achievementId"] and body["total"]["filtered"] == 1
        member = get(client, f"/api/DEFAULT/member/{ids['customerId']}")
        assert response_errors(ITEM, "get", 200, member) == []
        assert member["email"] == "john.smith@example.com" and member["firstName"] == "John"


@pytest.mark.parametrize(
    "path", ["/api/DEFAULT/member", "/api/DEFAULT/member/email=a@b.c", "/api/DEFAULT/member/email=a@b.c/achievement"]
)
def test_auth(api, path: str) -> None:
    client, _ = api
    assert client.get(path).status_code == 401
    forbidden = client.get(path, headers={"X-AUTH-TOKEN": "other-key"})
    assert forbidden.status_code == 403 and forbidden.json() == {"code": 403, "message": "Forbidden."}
