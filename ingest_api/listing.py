"""Open Loyalty's listing queries: paging, sorting, filters and scroll, as its "How to Query" guide has them.

- ``_page`` (from 1) and ``_itemsOnPage`` (1..50, default 10);
- ``_orderBy[field]=asc|desc`` on the fields an endpoint lists as sortable;
- filters ``field=value`` (= ``field[eq]=value``) and ``field[op]=value`` with op one of ``eq, neq, gt, gte,
  lt, lte, like, in`` (``like``: case-insensitive substring; ``in``: comma-separated values), all ANDed;
- ``_scroll`` (where the contract has it): cursor paging in ascending ``createdAt`` order, the answer
  carrying ``scroll.next`` (null after the last page) instead of ``total``.

A filter the contract lists for an endpoint but we cannot serve is refused with 400, never ignored.
Filters apply to the item as the response shows it (``customerData:email`` reads ``customerData.email``).
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

import orjson
from starlette.datastructures import QueryParams

from ingest_api.errors import BadRequest, FieldProblem
from loyalty_stream.domain import parse_event_date
from loyalty_stream.domain.identity import normalise

Kind = Literal["text", "id", "bool", "int", "datetime", "email", "phone", "loyaltyCardNumber"]
UTC_ZONE = ZoneInfo("UTC")
MAX_ITEMS_ON_PAGE = 50
DEFAULT_ITEMS_ON_PAGE = 10
MAX_PAGE = 2**31 - 1
MAX_VALUE = 255  # a filter value (each of an `in` list) is a string like any other: ≤ 255 characters
MAX_IN_VALUES = 100
_OPS: dict[str, frozenset[str]] = {
    "text": frozenset({"eq", "neq", "like", "in"}),
    "id": frozenset({"eq", "neq", "in"}),
    "email": frozenset({"eq", "neq", "like", "in"}),
    "phone": frozenset({"eq", "neq", "like", "in"}),
    "loyaltyCardNumber": frozenset({"eq", "neq", "like", "in"}),
    "bool": frozenset({"eq", "neq"}),
    "int": frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "in"}),
    "datetime": frozenset({"eq", "neq", "gt", "gte", "lt", "lte"}),
}


@dataclass(frozen=True, slots=True)
class Field:
    """A filterable/sortable field: where it sits in the response item and how its values compare."""

    path: tuple[str, ...]
    kind: Kind = "text"


def field(path: str, kind: Kind = "text") -> Field:
    return Field(tuple(path.split(":")), kind)


# The identifiers of an item's customerData as filters (compared normalised): custom events and transactions.
CUSTOMER_DATA_FIELDS: Final = {
    "customerData:customerId": field("customerData:customerId", "id"),
    "customerData:email": field("customerData:email", "email"),
    "customerData:phone": field("customerData:phone", "phone"),
    "customerData:loyaltyCardNumber": field("customerData:loyaltyCardNumber", "loyaltyCardNumber"),
}


@dataclass(frozen=True, slots=True)
class Filter:
    """One ``field[op]=value`` of a list query, matched against an item."""

    name: str
    field: Field
    op: str
    value: Any  # parsed: str, bool, int, datetime, or a tuple of those for `in`

    def matches(self, item: Mapping[str, Any], tz: ZoneInfo) -> bool:
        actual = _comparable(item_value(item, self.field.path), self.field.kind, tz)
        if self.op == "neq":
            return actual != self.value
        if actual is None:
            return False
        if self.op == "eq":
            return bool(actual == self.value)
        if self.op == "in":
            return actual in self.value
        if self.op == "like":
            return isinstance(actual, str) and self.value in actual.casefold()
        try:
            if self.op == "gt":
                return bool(actual > self.value)
            if self.op == "gte":
                return bool(actual >= self.value)
            if self.op == "lt":
                return bool(actual < self.value)
            return bool(actual <= self.value)
        except TypeError:
            return False


def item_value(item: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = item
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _comparable(value: Any, kind: Kind, tz: ZoneInfo) -> Any:
    if value is None:
        return None
    if kind == "datetime":
        try:
            return parse_event_date(value, tz) if isinstance(value, str) else None
        except ValueError:
            return None
    if kind in ("email", "phone", "loyaltyCardNumber", "id") and isinstance(value, str):
        return normalise("customerId" if kind == "id" else kind, value)
    return value


def _parse_value(raw: str, kind: Kind, op: str, tz: ZoneInfo) -> Any:
    if op == "like":
        return raw.casefold()
    if op == "in":
        return tuple(_parse_value(part.strip(), kind, "eq", tz) for part in raw.split(","))
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError("This value should be true or false.")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("This value should be an integer.") from None
    if kind == "datetime":
        try:
            return parse_event_date(raw, tz)
        except ValueError:
            raise ValueError("This value is not a valid datetime.") from None
    return _comparable(raw, kind, tz)


@dataclass(frozen=True, slots=True)
class ListQuery:
    filters: tuple[Filter, ...]
    page: int = 1
    per_page: int = DEFAULT_ITEMS_ON_PAGE
    order: tuple[str, bool] | None = None  # (field name, descending)
    scroll: str | None = None  # None: page mode; "" first scroll page; else the cursor
    tz: ZoneInfo = UTC_ZONE

    def eq(self, name: str) -> Any:
        """The value of an ``eq`` filter on ``name``, if there is exactly one (index lookups)."""
        found = [f.value for f in self.filters if f.name == name and f.op == "eq"]
        return found[0] if len(found) == 1 else None

    def matches(self, item: Mapping[str, Any], skip: Collection[str] = ()) -> bool:
        return all(f.matches(item, self.tz) for f in self.filters if f.name not in skip)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def ordered_by(self, name: str) -> ListQuery:
        """This query, sorted ascending by ``name`` unless it asks for another order (stable pages)."""
        return self if self.order is not None else dataclasses.replace(self, order=(name, False))


def _int_param(params: QueryParams, name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest([FieldProblem(name, "This value should be an integer.", "invalid_type")]) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise BadRequest([FieldProblem(name, f"This value should be {bound}.", "out_of_range")])
    return value


def parse_list_query(
    params: QueryParams,
    fields: Mapping[str, Field],
    *,
    tz: ZoneInfo,
    sortable: Collection[str] = (),
    scroll: bool = False,
    unsupported: Collection[str] = (),
) -> ListQuery:
    """Read paging, sorting and filters; anything malformed → 400 naming the parameter."""
    problems: list[FieldProblem] = []
    filters: list[Filter] = []
    order: tuple[str, bool] | None = None
    for key, raw in params.multi_items():
        name, op = key, "eq"
        if key.endswith("]") and "[" in key:
            name, _, rest = key.partition("[")
            op = rest[:-1]
        if name == "_orderBy":
            if op not in sortable:
                problems.append(FieldProblem(key, f"Sorting is possible by: {', '.join(sortable) or 'nothing'}."))
            elif raw.lower() not in ("asc", "desc"):
                problems.append(FieldProblem(key, "This value should be asc or desc."))
            else:
                order = (op, raw.lower() == "desc")
            continue
        if name in unsupported:
            problems.append(FieldProblem(key, "This filter is not supported by loyalty-stream.", "unsupported"))
            continue
        spec = fields.get(name)
        if spec is None or name.startswith("_"):
            continue  # not a filter of this endpoint: ignored, as any HTTP API ignores unknown parameters
        if op not in _OPS[spec.kind]:
            problems.append(FieldProblem(key, f"Operators for {name}: {', '.join(sorted(_OPS[spec.kind]))}."))
            continue
        values = raw.split(",") if op == "in" else [raw]
        if len(values) > MAX_IN_VALUES or any(len(v) > MAX_VALUE for v in values):
            problems.append(
                FieldProblem(key, f"At most {MAX_IN_VALUES} values of {MAX_VALUE} characters or less.", "too_long")
            )
            continue
        try:
            filters.append(Filter(name, spec, op, _parse_value(raw, spec.kind, op, tz)))
        except ValueError as exc:
            problems.append(FieldProblem(key, str(exc), "invalid_value"))
    try:
        page = _int_param(params, "_page", 1, 1, MAX_PAGE)
        per_page = _int_param(params, "_itemsOnPage", DEFAULT_ITEMS_ON_PAGE, 1, MAX_ITEMS_ON_PAGE)
    except BadRequest as exc:
        problems += exc.problems
        page, per_page = 1, DEFAULT_ITEMS_ON_PAGE
    cursor = params.get("_scroll") if scroll else None
    if cursor is not None and order is not None:
        problems.append(FieldProblem("_orderBy", "Scroll pagination does not support sorting with _orderBy."))
    if problems:
        raise BadRequest(problems)
    return ListQuery(tuple(filters), page, per_page, order, cursor, tz)


# -- cursors ------------------------------------------------------------------------------------------
def encode_cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        return orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadRequest([FieldProblem("_scroll", "This scroll identifier is not valid.", "invalid_scroll")]) from None


# -- in-memory lists ------------------------------------------------------------------------------------
def _sort_key(value: Any, kind: Kind, tz: ZoneInfo) -> tuple[int, Any]:
    comparable = _comparable(value, kind, tz)
    if comparable is None:
        return (1, "")
    if isinstance(comparable, datetime):
        return (0, comparable.timestamp())
    if isinstance(comparable, str):
        return (0, comparable.casefold())
    return (0, comparable)


def total(all_count: int, filtered: int, estimated: bool = False) -> dict[str, Any]:
    return {"all": all_count, "filtered": filtered, "estimated": estimated}


def page_of(
    items: Iterable[dict[str, Any]],
    query: ListQuery,
    fields: Mapping[str, Field],
    *,
    id_of: Callable[[Mapping[str, Any]], str],
    scroll_by: str = "createdAt",
) -> dict[str, Any]:
    """Filter, sort and cut a list held in memory: ``{items, total}``, or ``{items, scroll}`` in scroll mode."""
    every = list(items)
    matched = [item for item in every if query.matches(item)]
    tz = query.tz
    if query.scroll is not None:
        spec = fields[scroll_by]

        def position(item: Mapping[str, Any]) -> tuple[Any, str]:
            return (_sort_key(item_value(item, spec.path), spec.kind, tz), id_of(item))

        matched.sort(key=position)
        if query.scroll:
            after = decode_cursor(query.scroll)
            try:
                mark = ((after[0][0], after[0][1]), after[1])
                matched = [item for item in matched if position(item) > mark]
            except (TypeError, IndexError, KeyError):
                raise BadRequest([FieldProblem("_scroll", "This scroll identifier is not valid.")]) from None
        chunk = matched[: query.per_page]
        more = len(matched) > len(chunk)
        last = position(chunk[-1]) if chunk and more else None
        return {"items": chunk, "scroll": {"next": encode_cursor([list(last[0]), last[1]]) if last else None}}
    if query.order is not None:
        name, descending = query.order
        spec = fields[name]
        keyed = [(_sort_key(item_value(i, spec.path), spec.kind, tz), i) for i in matched]
        keyed.sort(key=lambda p: id_of(p[1]))
        present = [p for p in keyed if p[0][0] == 0]
        present.sort(key=lambda p: p[0], reverse=descending)
        matched = [p[1] for p in present] + [p[1] for p in keyed if p[0][0] == 1]  # missing values last
    return {
        "items": matched[query.offset : query.offset + query.per_page],
        "total": total(len(every), len(matched)),
    }
