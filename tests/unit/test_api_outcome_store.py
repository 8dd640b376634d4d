"""The outcomes read model on a real RocksDB: indexes, counters, paging, scroll and the retention sweep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rocksdict import Options, Rdict
from starlette.datastructures import QueryParams

from ingest_api import outcome_store
from ingest_api.listing import ListQuery, parse_list_query
from ingest_api.outcome_store import OutcomeStore, instant
from ingest_api.routes.custom_event_reads import FIELDS
from loyalty_stream.config.settings import Store
from loyalty_stream.domain import custom_event_id


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OutcomeStore]:
    db = Rdict(str(tmp_path / "db"), Options(raw_mode=True))
    yield OutcomeStore(db)
    db.close()


def record(n: int, *, type: str = "run", member: str | None = "m1", status: str = "counted", **kw: Any) -> dict:
    return {
        "storeCode": "S",
        "customEventId": kw.pop("ceid", f"e{n}"),
        "eventId": kw.pop("eventId", None),
        "type": type,
        "eventDate": "2024-05-01T00:00:00Z",
        "createdAt": f"2024-05-01T00:00:{n:02d}.000Z",
        "customerData": {"email": "a@b.c"},
        "customerId": member,
        "body": "{}",
        "status": status,
        "reason": None,
        "reasons": {},
        "changedAchievements": [],
        "decidedAt": kw.pop("decidedAt", f"2024-05-01T00:00:{n:02d}.000Z"),
    }


def render(r: dict[str, Any]) -> dict[str, Any]:
    return {"customEventId": r["customEventId"], "type": r["type"], "outcome": r["status"], "eventId": r["eventId"]} | (
        {"customerId": r["customerId"]} if r["customerId"] else {}
    )


def q(params: str = "", **kw: Any) -> ListQuery:
    return parse_list_query(
        QueryParams(params), FIELDS, tz=Store("S", frozenset()).tz, sortable=("createdAt",), scroll=True, **kw
    )


def ids(body: dict[str, Any]) -> list[str]:
    return [i["customEventId"] for i in body["items"]]


def fill(store: OutcomeStore) -> None:
    store.apply("S", "e1", record(1))
    store.apply("S", "e2", record(2, type="swim", member="m2"))
    store.apply("S", "e3", record(3, member=None, status="parked"))
    store.apply("S", "e4", record(4, type="swim", status="no_effect"))
    store.apply("T", "e5", {**record(5), "storeCode": "T"})


def test_lists_by_created_at_per_store_with_exact_counts(store: OutcomeStore) -> None:
    fill(store)
    body = store.query("S", q(), render)
    assert ids(body) == ["e1", "e2", "e3", "e4"]
    assert body["total"] == {"all": 4, "filtered": 4, "estimated": False}
    assert ids(store.query("S", q("_orderBy[createdAt]=desc&_itemsOnPage=3"), render)) == ["e4", "e3", "e2"]
    assert ids(store.query("S", q("_itemsOnPage=3&_page=2"), render)) == ["e4"]
    by_type = store.query("S", q("type=swim"), render)
    assert ids(by_type) == ["e2", "e4"] and by_type["total"]["filtered"] == 2
    assert ids(store.query("S", q("customerId=m1"), render)) == ["e1", "e4"]
    residual = store.query("S", q("customerId=m1&outcome=no_effect"), render)
    assert ids(residual) == ["e4"] and residual["total"] == {"all": 4, "filtered": 1, "estimated": False}
    assert ids(store.query("T", q(), render)) == ["e5"]


def test_direct_lookups_by_custom_event_id_and_event_id(store: OutcomeStore) -> None:
    ceid = custom_event_id("S", "client-1")
    store.apply("S", ceid, record(7, ceid=ceid, eventId="client-1"))
    fill(store)
    assert ids(store.query("S", q("eventId=client-1"), render)) == [ceid]
    assert ids(store.query("S", q(f"customEventId={ceid.upper()}"), render)) == [ceid]
    assert ids(store.query("S", q("eventId=client-1&type=swim"), render)) == []
    assert store.query("S", q("eventId=unknown&_scroll="), render) == {"items": [], "scroll": {"next": None}}


def test_updates_move_index_entries_and_deletes_clear_them(store: OutcomeStore) -> None:
    fill(store)
    store.apply("S", "e3", record(3, member="m9", status="counted", decidedAt="2024-05-01T01:00:00Z"))
    assert ids(store.query("S", q("customerId=m9"), render)) == ["e3"]
    assert store.count("S") == 4
    store.apply("S", "e2", None)
    store.apply("S", "e2", None)  # a second tombstone changes nothing
    assert ids(store.query("S", q("type=swim"), render)) == ["e4"]
    assert store.query("S", q("type=swim"), render)["total"]["filtered"] == 1
    assert store.count("S") == 3 and store.get("S", "e2") is None
    for key in ("e1", "e3", "e4"):
        store.apply("S", key, None)
    assert store.count("S") == 0 and store.query("S", q(), render)["items"] == []
    assert store.query("S", q("type=run"), render)["total"]["filtered"] == 0


def test_scroll_visits_every_match_once_also_across_the_scan_budget(
    store: OutcomeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(30):
        store.apply("S", f"x{n:02d}", record(n, ceid=f"x{n:02d}", status="counted" if n % 3 else "no_effect"))
    monkeypatch.setattr(outcome_store, "SCAN_BUDGET", 4)
    seen, cursor, pages = [], "", 0
    while cursor is not None:
        body = store.query("S", q(f"outcome=no_effect&_itemsOnPage=2&_scroll={cursor}"), render)
        seen += ids(body)
        cursor = body["scroll"]["next"]
        pages += 1
    assert seen == [f"x{n:02d}" for n in range(0, 30, 3)]
    assert pages > 5  # pages came back short when the budget ran out, with a cursor to go on


def test_filtered_counts_past_the_budget_are_estimated(store: OutcomeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(40):
        store.apply("S", f"y{n:02d}", record(n, ceid=f"y{n:02d}", status="no_effect" if n % 2 else "counted"))
    monkeypatch.setattr(outcome_store, "SCAN_BUDGET", 5)
    body = store.query("S", q("outcome=no_effect&_itemsOnPage=2"), render)
    assert ids(body) == ["y01", "y03"]
    assert body["total"]["estimated"] is True and 2 <= body["total"]["filtered"] < 20
    monkeypatch.setattr(outcome_store, "SCAN_BUDGET", 1000)
    assert store.query("S", q("outcome=no_effect&_itemsOnPage=2"), render)["total"]["filtered"] == 20


def test_sweep_forgets_outcomes_decided_before_the_cutoff(store: OutcomeStore) -> None:
    fill(store)
    store.apply("S", "e1", record(1, decidedAt="2024-06-01T00:00:00Z"))  # re-decided later: kept
    assert store.sweep("2024-05-01T00:00:03.500Z") == 2  # e2, e3
    assert sorted(ids(store.query("S", q(), render))) == ["e1", "e4"]
    assert store.count("S") == 2 and ids(store.query("S", q("customerId=m2"), render)) == []
    assert store.sweep("2024-05-01T00:00:03.500Z") == 0


def test_instants_sort_as_text() -> None:
    assert instant("2024-05-01T02:00:00+02:00") == "2024-05-01T00:00:00.000Z"
    assert instant("2024-05-01T00:00:00") == "2024-05-01T00:00:00.000Z"
    assert instant("garbage") == "garbage" and instant(None) == ""
