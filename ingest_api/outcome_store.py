"""Event outcomes in RocksDB, with the indexes GET /customEvent needs, so the list scales past memory.

Keys (``\\0`` separates parts; store codes, event types and ids never contain it):

    r<store>\\0<customEventId>                          → the CustomEventOutcome record (JSON)
    c<store>\\0<createdAt>\\0<customEventId>             → ""   every event of a store, by acceptance time
    t<store>\\0<type>\\0<createdAt>\\0<customEventId>     → ""   by type
    m<store>\\0<customerId>\\0<createdAt>\\0<customEventId> → ""  by matched member
    x<decidedAt>\\0<store>\\0<customEventId>             → ""   by age, for the retention sweep
    n<index prefix>                                    → count of entries under that prefix (8 bytes)

A list picks the narrowest index its ``eq`` filters allow (customEventId/eventId → one key; customerId;
type; else the store's), walks it in createdAt order and applies the remaining filters to each item.
Counts are exact when the index answers every filter; otherwise at most ``SCAN_BUDGET`` entries are
read past the page (``MAX_SCAN`` in all) and ``total.estimated`` says the count is a lower bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from rocksdict import Rdict, WriteBatch

from ingest_api.errors import BadRequest, FieldProblem
from ingest_api.listing import ListQuery, decode_cursor, encode_cursor, total
from loyalty_stream.domain import custom_event_id
from loyalty_stream.domain.clock import UTC_ZONE, iso_utc
from loyalty_stream.domain.events import TRANSACTION_TYPE, parse_event_date

SEP = b"\x00"
SCAN_BUDGET = 10_000  # index entries read past the page to count a filtered list (or per scroll page)
MAX_SCAN = 100_000  # index entries one filtered page request reads at most
Render = Callable[[dict[str, Any]], dict[str, Any]]


def instant(text: str | None) -> str:
    """A timestamp in one fixed-width UTC form, so keys sort chronologically."""
    if not text:
        return ""
    try:
        return iso_utc(parse_event_date(text, UTC_ZONE))  # no offset: UTC
    except ValueError:
        return text


def transactions_space(store: str) -> str:
    """Where a store's transactions are kept, apart from its custom events (``\x01`` is in no store code)."""
    return f"{store}\x01transactions"


def _b(*parts: str) -> bytes:
    return SEP.join(p.encode() for p in parts)


class OutcomeStore:
    """One writer (the mirror thread, and the sweeper under the same lock), any number of readers."""

    def __init__(self, db: Rdict) -> None:
        self._db = db
        self._lock = threading.Lock()

    # -- writes --------------------------------------------------------------------------------------------
    @staticmethod
    def _entries(store: str, event_id: str, record: dict[str, Any]) -> list[tuple[bytes, bytes | None]]:
        """(index key, counter key or None) of one record."""
        created = instant(record.get("createdAt") or record.get("decidedAt"))
        entries: list[tuple[bytes, bytes | None]] = [
            (b"c" + _b(store, created, event_id), b"nc" + _b(store, "")),
            (b"t" + _b(store, record["type"], created, event_id), b"nt" + _b(store, record["type"], "")),
            (b"x" + _b(instant(record.get("decidedAt")) or created, store, event_id), None),
        ]
        if record.get("customerId"):
            member = record["customerId"]
            entries.append((b"m" + _b(store, member, created, event_id), b"nm" + _b(store, member, "")))
        return entries

    def apply(self, store: str, event_id: str, record: dict[str, Any] | None) -> None:
        """Upsert (or delete, with None) one outcome: a transaction's under its store's transactions, apart
        from its custom events (a deletion, which names no type, goes to both)."""
        if record is None:
            self._apply(store, event_id, None)
            self._apply(transactions_space(store), event_id, None)
        else:
            self._apply(transactions_space(store) if record["type"] == TRANSACTION_TYPE else store, event_id, record)

    def _apply(self, store: str, event_id: str, record: dict[str, Any] | None) -> None:
        """Upsert (or delete, with None) one outcome and its index entries, atomically."""
        main = b"r" + _b(store, event_id)
        with self._lock:
            batch = WriteBatch(raw_mode=True)
            deltas: dict[bytes, int] = {}
            old = self._db.get(main)
            if old is not None:
                for key, counter in self._entries(store, event_id, orjson.loads(old)):
                    batch.delete(key)
                    if counter is not None:
                        deltas[counter] = deltas.get(counter, 0) - 1
            if record is None:
                batch.delete(main)
            else:
                for key, counter in self._entries(store, event_id, record):
                    batch.put(key, b"")
                    if counter is not None:
                        deltas[counter] = deltas.get(counter, 0) + 1
                batch.put(main, orjson.dumps(record))
            for counter, delta in deltas.items():
                if delta:
                    value = self._count(counter) + delta
                    if value > 0:
                        batch.put(counter, value.to_bytes(8, "big"))
                    else:
                        batch.delete(counter)
            self._db.write(batch)

    def sweep(self, before: str, limit: int = 10_000) -> int:
        """Forget outcomes last decided before ``before`` (ISO UTC); returns how many went."""
        cutoff = b"x" + instant(before).encode()
        expired = []
        it = self._db.iter()
        it.seek(b"x")
        while it.valid() and len(expired) < limit:
            key = it.key()
            if not key.startswith(b"x") or key >= cutoff:
                break
            _decided, store, event_id = key[1:].split(SEP)
            expired.append((store.decode(), event_id.decode()))
            it.next()
        del it
        for space, event_id in expired:
            self._apply(space, event_id, None)
        return len(expired)

    # -- reads ---------------------------------------------------------------------------------------------
    def _count(self, counter: bytes) -> int:
        raw = self._db.get(counter)
        return int.from_bytes(raw, "big") if raw else 0

    def get(self, store: str, event_id: str) -> dict[str, Any] | None:
        raw = self._db.get(b"r" + _b(store, event_id))
        return orjson.loads(raw) if raw is not None else None

    def count(self, store: str) -> int:
        return self._count(b"nc" + _b(store, ""))

    def _scan(self, prefix: bytes, *, descending: bool, after: bytes | None) -> Iterator[bytes]:
        it = self._db.iter()
        if descending:
            it.seek_for_prev(after if after is not None else prefix + b"\xff")
            if after is not None and it.valid() and it.key() == after:
                it.prev()
        else:
            it.seek(after if after is not None else prefix)
            if after is not None and it.valid() and it.key() == after:
                it.next()
        while it.valid():
            key = it.key()
            if not key.startswith(prefix):
                return
            yield key
            if descending:
                it.prev()
            else:
                it.next()

    def _index(self, store: str, query: ListQuery) -> tuple[bytes, set[str]]:
        """The narrowest index prefix for the query, and the filters it answers by itself."""
        member = query.eq("customerId")
        if member is not None:
            return b"m" + _b(store, member, ""), {"customerId"}
        kind = query.eq("type")
        if kind is not None:
            return b"t" + _b(store, kind, ""), {"type"}
        return b"c" + _b(store, ""), set()

    def query(self, store: str, query: ListQuery, render: Render, direct_id: str | None = None) -> dict[str, Any]:
        """GET /customEvent (or /transaction, with ``transactions_space(store)``): ``{items, total}`` (page
        mode) or ``{items, scroll}``. ``direct_id``: the one id the query's filters name, if the caller knows."""
        direct = (
            direct_id
            or query.eq("customEventId")
            or (query.eq("eventId") and custom_event_id(store, query.eq("eventId")))
        )
        if direct:
            record = self.get(store, direct)
            found = [item for item in ([render(record)] if record else []) if query.matches(item)]
            if query.scroll is not None:
                return {"items": found, "scroll": {"next": None}}
            return {
                "items": found[query.offset : query.offset + query.per_page],
                "total": total(self.count(store), len(found)),
            }
        prefix, answered = self._index(store, query)
        residual = any(f.name not in answered for f in query.filters)
        if query.scroll is not None:
            return self._scroll(store, prefix, query, render)
        descending = query.order is not None and query.order[1]
        items: list[dict[str, Any]] = []
        matched, scanned, estimated = 0, 0, False
        end = query.offset + query.per_page
        for key in self._scan(prefix, descending=descending, after=None):
            scanned += 1
            if not residual:
                if matched >= query.offset:
                    items.append(self._render(store, key, render))
                matched += 1
                if matched >= end:
                    break
                continue
            item = self._render(store, key, render)
            if not query.matches(item, skip=answered):
                continue
            if query.offset <= matched < end:
                items.append(item)
            matched += 1
            if (matched >= end and scanned >= end + SCAN_BUDGET) or scanned >= MAX_SCAN:
                estimated = True  # counting stopped early: `filtered` is a lower bound
                break
        filtered = self._count(b"n" + prefix) if not residual else matched
        return {"items": items, "total": total(self.count(store), filtered, estimated)}

    def _render(self, store: str, key: bytes, render: Render) -> dict[str, Any]:
        event_id = key.rsplit(SEP, 1)[1].decode()
        record = self.get(store, event_id)
        return render(record) if record is not None else {}

    def _scroll(self, store: str, prefix: bytes, query: ListQuery, render: Render) -> dict[str, Any]:
        after = None
        if query.scroll:
            position = decode_cursor(query.scroll)
            after = bytes.fromhex(position) if isinstance(position, str) else b""
            if not after.startswith(prefix):
                raise BadRequest([FieldProblem("_scroll", "This scroll identifier does not belong to this query.")])
        items: list[dict[str, Any]] = []
        last: bytes | None = None
        for scanned, key in enumerate(self._scan(prefix, descending=False, after=after)):
            if len(items) == query.per_page or scanned >= SCAN_BUDGET:
                return {"items": items, "scroll": {"next": encode_cursor((last or key).hex())}}
            item = self._render(store, key, render)
            last = key
            if query.matches(item):
                items.append(item)
        return {"items": items, "scroll": {"next": None}}
