"""Tenant isolation on a real API: every operation of our OpenAPI, every method, every kind of key; and no
request with another store's key reads or changes anything of that store.

Stores: ``DEFAULT:dev-key`` and ``OTHER:other-key:Europe/Warsaw``; ``admin-key`` is in LOYALTY_ADMIN_KEYS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from loyalty_stream.tools.procs import wait_until
from tests.conftest import settings_for
from tests.support.flows import LOGIN_STREAK
from tests.support.stack import Stack

KEYS = {"DEFAULT": "dev-key", "OTHER": "other-key"}
ADMIN = "admin-key"
# Paths without a store: answered to anyone, by design (probes and Prometheus).
PUBLIC = {"/health", "/ready", "/metrics"}
PLACEHOLDER = "00000000-0000-4000-8000-000000000000"


@dataclass
class Api:
    client: httpx.Client
    openapi: dict[str, Any]

    def call(self, method: str, path: str, key: str | None, body: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {"X-AUTH-TOKEN": key} if key is not None else {}
        return self.client.request(method, path, headers=headers, json=body, **kwargs)


@pytest.fixture(scope="module")
def api(kafka, tmp_path_factory) -> Iterator[Api]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("tenants"), admin_keys=ADMIN)
    stack = Stack(settings, tmp_path_factory.mktemp("tenants-logs")).start("api", "processor")
    try:
        with httpx.Client(base_url=stack.api, timeout=30) as client:
            yield Api(client, client.get("/openapi.json").json())
    finally:
        stack.stop()


def _operations(openapi: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(method, path template, has a request body) of every store-scoped operation."""
    found = []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                found.append((method.upper(), path, "requestBody" in operation))
    return found


def _url(template: str, store: str) -> str:
    url = template.replace("{storeCode}", store)
    while "{" in url:
        start = url.index("{")
        url = url[:start] + PLACEHOLDER + url[url.index("}", start) + 1 :]
    return url


def test_every_path_is_store_scoped_or_public(api: Api) -> None:
    paths = set(api.openapi["paths"])
    assert {p for p in paths if not p.startswith("/api/{storeCode}/")} <= PUBLIC
    scoped = [op for op in _operations(api.openapi) if op[1].startswith("/api/{storeCode}/")]
    assert len(scoped) >= 30  # every operation of ours (the list grows with the API)


@pytest.mark.parametrize("store", ["DEFAULT", "OTHER"])
def test_every_operation_every_method_every_key(api: Api, store: str) -> None:
    other = "OTHER" if store == "DEFAULT" else "DEFAULT"
    seen = []
    for method, template, has_body in _operations(api.openapi):
        if not template.startswith("/api/{storeCode}/"):
            continue
        url, body = _url(template, store), ({} if has_body else None)
        label = f"{method} {template} on {store}"
        seen.append(label)

        missing = api.call(method, url, None, body)
        assert missing.status_code == 401, f"{label} without a key: {missing.status_code} {missing.text}"
        assert missing.json() == {"message": "Authentication Required"}

        wrong = api.call(method, url, "no-such-key", body)
        assert wrong.status_code == 401, f"{label} with a wrong key: {wrong.status_code} {wrong.text}"
        assert wrong.json() == {"message": "Authentication Required"}

        foreign = api.call(method, url, KEYS[other], body)
        assert foreign.status_code == 403, f"{label} with {other}'s key: {foreign.status_code} {foreign.text}"
        assert foreign.json() == {"code": 403, "message": "Forbidden."}

        admin = api.call(method, url, ADMIN, body)
        assert admin.status_code not in (401, 403), f"{label} with an admin key: {admin.status_code} {admin.text}"
        assert admin.status_code < 500, f"{label} with an admin key: {admin.status_code} {admin.text}"

        own = api.call(method, url, KEYS[store], body)
        assert own.status_code not in (401, 403) and own.status_code < 500, f"{label}: {own.status_code} {own.text}"

        unknown_store = api.call(method, _url(template, "NOSUCHSTORE"), ADMIN, body)
        assert unknown_store.status_code == 404, f"{label}: admin key on an unknown store: {unknown_store.text}"
    assert len(seen) == len([op for op in _operations(api.openapi) if op[1].startswith("/api/{storeCode}/")])


# -- nothing read, nothing changed ------------------------------------------------------------------------
@dataclass
class StoreData:
    store: str
    event_type: str
    achievement: str
    customer: str
    email: str
    subscription: str
    custom_event: str


def _post(api: Api, store: str, path: str, body: Any, expect: int = 200) -> Any:
    response = api.call("POST", f"/api/{store}{path}", KEYS[store], body)
    assert response.status_code == expect, f"{store} {path}: {response.status_code} {response.text}"
    return response.json() if response.content else None


def _populate(api: Api, store: str) -> StoreData:
    event_type = f"{store.lower()}_login"
    email = f"{store.lower()}@example.com"
    _post(
        api,
        store,
        "/customEvent/schema",
        {"customEventSchema": {"eventType": event_type, "name": f"{store} login", "schema": {}}},
        expect=204,
    )
    definition = {**LOGIN_STREAK["achievement"], "rules": [{**LOGIN_STREAK["achievement"]["rules"][0]}]}
    definition["rules"][0]["event"] = event_type
    achievement = _post(api, store, "/achievement", {"achievement": definition})["achievementId"]
    customer = _post(api, store, "/member", {"customer": {"email": email, "firstName": store}})["customerId"]
    subscription = _post(
        api,
        store,
        "/webhook/subscription",
        {"webhookSubscription": {"eventName": "AchievementsWereProcessed", "url": f"http://127.0.0.1:9/{store}"}},
    )["webhookSubscriptionId"]
    event = {"type": event_type, "eventDate": "2024-05-01T10:00:00Z", "customerData": {"email": email}}
    custom_event = _post(api, store, "/customEvent", {"event": {**event, "eventId": f"{store}-1"}})["customEventId"]
    url = f"/api/{store}/customEvent/{custom_event}"
    wait_until(lambda: api.call("GET", url, KEYS[store]).status_code == 200, timeout=60, what=f"{store}'s event")
    return StoreData(store, event_type, achievement, customer, email, subscription, custom_event)


def _snapshot(api: Api, data: StoreData) -> dict[str, Any]:
    """Everything of the store its own key can read."""
    store, key = data.store, KEYS[data.store]
    reads = [
        "/customEvent/schema",
        f"/customEvent/schema/{data.event_type}",
        "/achievement",
        f"/achievement/{data.achievement}",
        "/member",
        f"/member/{data.customer}",
        f"/member/{data.customer}/achievement",
        "/webhook/subscription",
        f"/webhook/subscription/{data.subscription}",
        f"/webhook/subscription/{data.subscription}/attempts",
        "/customEvent",
        f"/customEvent/{data.custom_event}",
    ]
    snapshot = {}
    for path in reads:
        response = api.call("GET", f"/api/{store}{path}", key)
        assert response.status_code == 200, f"{store} {path}: {response.text}"
        snapshot[path] = response.json()
    return snapshot


def _attacks(victim: StoreData, event_type_of_attacker: str) -> list[tuple[str, str, Any]]:
    """Every read and write of the victim's data, as (method, path after /api/{store}, body)."""
    event = {"type": victim.event_type, "eventDate": "2024-05-02T10:00:00Z", "customerData": {"email": victim.email}}
    definition = {**LOGIN_STREAK["achievement"], "active": False}
    definition["rules"] = [{**definition["rules"][0], "event": event_type_of_attacker}]
    sub = f"/webhook/subscription/{victim.subscription}"
    return [
        ("GET", f"/customEvent/schema/{victim.event_type}", None),
        ("PUT", f"/customEvent/schema/{victim.event_type}", {"customEventSchema": {"name": "taken", "schema": {}}}),
        ("POST", f"/customEvent/schema/{victim.event_type}/active", {"active": False}),
        ("GET", f"/achievement/{victim.achievement}", None),
        ("PUT", f"/achievement/{victim.achievement}", {"achievement": definition}),
        ("PATCH", f"/achievement/{victim.achievement}", {"achievement": {"active": False}}),
        ("GET", f"/member/{victim.customer}", None),
        ("GET", f"/member/email={victim.email}", None),
        ("GET", f"/member/{victim.customer}/achievement", None),
        ("PUT", f"/member/{victim.customer}", {"customer": {"firstName": "taken"}}),
        ("PUT", f"/member/email={victim.email}", {"customer": {"firstName": "taken"}}),
        ("DELETE", f"/member/{victim.customer}", None),
        ("GET", f"/customEvent/{victim.custom_event}", None),
        ("POST", "/customEvent", {"event": {**event, "eventId": f"attack-{uuid.uuid4()}"}}),
        ("GET", sub, None),
        ("PUT", sub, {"webhookSubscription": {"url": "http://127.0.0.1:9/taken"}}),
        ("POST", f"{sub}/secret", None),
        ("POST", f"{sub}/enable", None),
        ("POST", f"{sub}/test", None),
        ("GET", f"{sub}/attempts", None),
        ("DELETE", sub, None),
    ]


def _listed_ids(api: Api, store: str) -> set[str]:
    """Every identifier the store's own lists show."""
    ids: set[str] = set()
    for path, field in [
        ("/customEvent/schema", "eventType"),
        ("/achievement", "achievementId"),
        ("/member", "customerId"),
        ("/webhook/subscription", "webhookSubscriptionId"),
        ("/customEvent", "customEventId"),
    ]:
        response = api.call("GET", f"/api/{store}{path}", KEYS[store], params={"_itemsOnPage": 50})
        assert response.status_code == 200, response.text
        ids |= {item[field] for item in response.json()["items"]}
    return ids


def test_another_stores_key_reads_and_changes_nothing(api: Api) -> None:
    stores = {store: _populate(api, store) for store in ("DEFAULT", "OTHER")}
    before = {store: _snapshot(api, data) for store, data in stores.items()}
    for attacker, victim in (("DEFAULT", "OTHER"), ("OTHER", "DEFAULT")):
        own, theirs = stores[attacker], stores[victim]
        # Nothing of the victim's is listed in the attacker's store.
        listed = _listed_ids(api, attacker)
        victims_ids = {theirs.event_type, theirs.achievement, theirs.customer, theirs.subscription, theirs.custom_event}
        assert not listed & victims_ids, f"{attacker} lists {victim}'s {listed & victims_ids}"
        for method, path, body in _attacks(theirs, own.event_type):
            # With the attacker's key on the victim's store: 403, whatever the operation.
            direct = api.call(method, f"/api/{victim}{path}", KEYS[attacker], body)
            assert direct.status_code == 403, f"{attacker} key, {method} /api/{victim}{path}: {direct.text}"
            # With the victim's identifiers in the attacker's own store: not found (or refused), never served.
            sideways = api.call(method, f"/api/{attacker}{path}", KEYS[attacker], body)
            expected = 400 if path == "/customEvent" else 404  # the victim's event type has no schema here
            assert sideways.status_code == expected, f"{attacker}: {method} /api/{attacker}{path}: {sideways.text}"
    # A marker written with the victim's own key after the attacks, once listed, shows the processor has
    # caught up on what came before: the victim's data is as it was, and no attacking event got in.
    for victim, data in stores.items():
        marker = {"type": data.event_type, "eventDate": "2024-05-03T10:00:00Z", "customerData": {"email": data.email}}
        marked = _post(api, victim, "/customEvent", {"event": {**marker, "eventId": f"{victim}-marker"}})
        url = f"/api/{victim}/customEvent/{marked['customEventId']}"
        key = KEYS[victim]
        wait_until(lambda url=url, key=key: api.call("GET", url, key).status_code == 200, timeout=60, what="marker")
        after = _snapshot(api, data)
        events = api.call("GET", f"/api/{victim}/customEvent", KEYS[victim]).json()["items"]
        assert {e.get("eventId") for e in events} == {f"{victim}-1", f"{victim}-marker"}
        for path, value in before[victim].items():
            if path in ("/customEvent", f"/member/{data.customer}/achievement"):
                continue  # the marker itself changes these; checked above
            assert after[path] == value, f"{victim}'s {path} changed"
