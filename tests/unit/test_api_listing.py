"""Open Loyalty's listing query: filters, operators, sorting, paging and scroll over lists in memory."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.datastructures import QueryParams

from ingest_api.errors import BadRequest
from ingest_api.listing import decode_cursor, encode_cursor, field, page_of, parse_list_query

FIELDS = {
    "id": field("id", "id"),
    "name": field("name"),
    "active": field("active", "bool"),
    "count": field("count", "int"),
    "createdAt": field("createdAt", "datetime"),
    "customerData:email": field("customerData:email", "email"),
}
ITEMS: list[dict[str, Any]] = [
    {"id": "c", "name": "Gamma", "active": True, "count": 3, "createdAt": "2024-05-03T00:00:00Z"},
    {"id": "a", "name": "alpha", "active": False, "count": 1, "createdAt": "2024-05-01T00:00:00Z"},
    {"id": "b", "name": "Beta", "active": True, "count": 2, "createdAt": "2024-05-02T00:00:00+02:00"},
    {"id": "d", "name": None, "active": True, "count": 4, "customerData": {"email": "X@Example.com"}},
]
UTC = ZoneInfo("UTC")


def query(params: str, **kw: Any):
    return parse_list_query(QueryParams(params), FIELDS, tz=UTC, sortable=("name", "createdAt", "count"), **kw)


def ids(params: str, **kw: Any) -> list[str]:
    return [i["id"] for i in page_of(ITEMS, query(params, **kw), FIELDS, id_of=lambda i: i["id"])["items"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("", ["c", "a", "b", "d"]),
        ("active=true", ["c", "b", "d"]),
        ("active[neq]=true", ["a"]),
        ("name=Beta", ["b"]),
        ("name[like]=A", ["c", "a", "b"]),
        ("name[in]=alpha,Beta", ["a", "b"]),
        ("count[gte]=2&count[lt]=4", ["c", "b"]),
        ("createdAt[gt]=2024-05-01T12:00:00Z", ["c", "b"]),  # b is 2024-05-01T22:00Z
        ("createdAt[gt]=2024-05-01T23:00:00Z", ["c"]),
        ("createdAt[lte]=2024-05-02", ["a", "b"]),
        ("customerData:email=x@example.COM", ["d"]),
        ("name[neq]=Beta", ["c", "a", "d"]),
        ("unknownFilter=1", ["c", "a", "b", "d"]),
    ],
)
def test_filters(params: str, expected: list[str]) -> None:
    assert ids(params) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("_orderBy[name]=asc", ["a", "b", "c", "d"]),  # case-insensitive; a missing value sorts last
        ("_orderBy[name]=desc", ["c", "b", "a", "d"]),
        ("_orderBy[createdAt]=asc", ["a", "b", "c", "d"]),  # by instant, not by text
        ("_orderBy[count]=desc&_itemsOnPage=2&_page=2", ["b", "a"]),
        ("_itemsOnPage=3&_page=2", ["d"]),
        ("_itemsOnPage=3&_page=9", []),
    ],
)
def test_sorting_and_paging(params: str, expected: list[str]) -> None:
    assert ids(params) == expected


def test_total_counts_all_and_filtered() -> None:
    body = page_of(ITEMS, query("active=true&_itemsOnPage=1"), FIELDS, id_of=lambda i: i["id"])
    assert body["total"] == {"all": 4, "filtered": 3, "estimated": False}


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ("_page=0", "_page"),
        ("_page=x", "_page"),
        ("_itemsOnPage=51", "_itemsOnPage"),
        ("_orderBy[active]=asc", "_orderBy[active]"),
        ("_orderBy[name]=up", "_orderBy[name]"),
        ("active=maybe", "active"),
        ("count=many", "count"),
        ("createdAt=soon", "createdAt"),
        ("name[gt]=a", "name[gt]"),
        ("gender=x", "gender"),
    ],
)
def test_malformed_parameters_are_400_naming_them(params: str, path: str) -> None:
    with pytest.raises(BadRequest) as caught:
        query(params, unsupported=("gender",))
    assert [p.path for p in caught.value.problems] == [path]


def test_scroll_walks_in_created_order_with_cursors() -> None:
    seen: list[str] = []
    cursor = ""
    while cursor is not None:
        body = page_of(ITEMS, query(f"_itemsOnPage=1&_scroll={cursor}", scroll=True), FIELDS, id_of=lambda i: i["id"])
        assert set(body) == {"items", "scroll"}
        seen += [i["id"] for i in body["items"]]
        cursor = body["scroll"]["next"]
    assert seen == ["a", "b", "c", "d"]


def test_scroll_refuses_sorting_and_bad_cursors() -> None:
    with pytest.raises(BadRequest):
        query("_scroll=&_orderBy[name]=asc", scroll=True)
    with pytest.raises(BadRequest):
        page_of(ITEMS, query("_scroll=bm90IGpzb24", scroll=True), FIELDS, id_of=lambda i: i["id"])
    assert query("_scroll=abc").scroll is None  # endpoints without scroll ignore it


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor([[0, 1.5], "id"])) == [[0, 1.5], "id"]
