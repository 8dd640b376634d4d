"""The parking lot (processors/parking.py): bounds, claim order, and the changelog after a kill -9.

``Changelogged`` is the faust table in miniature: a write reaches the local store at once and the changelog
only at ``flush()`` (faust's ``send_soon``); ``crash()`` loses what was not flushed, as a kill -9 does; the
changelog is what another worker or a cold start restores.
"""

from __future__ import annotations

from collections.abc import Iterator

from processors.parking import DictKeyValue, ParkingLot, split_known

STORE = "DEFAULT"


class Changelogged:
    def __init__(self) -> None:
        self.local = DictKeyValue()
        self.changelog: dict[str, bytes] = {}
        self.pending: list[tuple[str, bytes | None]] = []

    def get(self, key: str) -> bytes | None:
        return self.local.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.local.set(key, value)
        self.pending.append((key, value))

    def delete(self, key: str) -> None:
        self.local.delete(key)
        self.pending.append((key, None))  # faust sends the tombstone even when the key is not there

    def items_with_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        return self.local.items_with_prefix(prefix)

    def flush(self) -> None:
        for key, value in self.pending:
            if value is None:
                self.changelog.pop(key, None)
            else:
                self.changelog[key] = value
        self.pending.clear()

    def crash(self) -> None:
        self.pending.clear()


def event(n: int, date: str = "2026-01-01T00:00:00Z") -> dict[str, object]:
    return {"customEventId": f"e{n}", "storeCode": STORE, "eventDate": date}


def park(lot: ParkingLot, n: int, *identifiers: tuple[str, str], date: str = "2026-01-01T00:00:00Z", now: float = 0):
    return lot.park(0, STORE, identifiers or (("email", "a@x"),), event(n, date), date, now)


def lot_over(kv: object, max_per_store: int = 10, max_age_seconds: float = 60) -> ParkingLot:
    return ParkingLot(kv, max_per_store=max_per_store, max_age_seconds=max_age_seconds)  # type: ignore[arg-type]


def test_a_registration_claims_what_any_identifier_parked_in_event_date_order() -> None:
    lot = lot_over(DictKeyValue())
    park(lot, 1, ("email", "a@x"), date="2026-01-03T00:00:00Z")
    park(lot, 2, ("phone", "+48"), date="2026-01-01T00:00:00Z")
    park(lot, 3, ("email", "b@x"))
    claimed = lot.claim(0, STORE, [("email", "a@x"), ("phone", "+48")])
    assert [e.event_id for e in claimed] == ["e2", "e1"]
    assert lot.claim(0, STORE, [("email", "a@x")]) == [claimed[1]], "a claim removes nothing by itself"


def test_removal_takes_an_entry_off_every_key_and_counts_it_down_once() -> None:
    lot = lot_over(DictKeyValue(), max_per_store=2)
    park(lot, 1, ("email", "a@x"), ("phone", "+48"))
    entries = lot.claim(0, STORE, [("email", "a@x")])
    lot.remove(entries)
    lot.remove(entries)  # re-delivered
    assert lot.claim(0, STORE, [("phone", "+48")]) == []
    assert park(lot, 2) == [] and park(lot, 3) == [], "the removed entry no longer counts against the bound"


def test_over_the_bound_the_oldest_leave_and_a_duplicate_is_parked_once() -> None:
    lot = lot_over(DictKeyValue(), max_per_store=2)
    park(lot, 1, now=1)
    assert park(lot, 1, now=2) == []
    park(lot, 2, now=3)
    evicted = park(lot, 3, now=4)
    assert [e.event_id for e in evicted] == ["e1"]


def test_entries_older_than_the_bound_expire() -> None:
    lot = lot_over(DictKeyValue(), max_age_seconds=60)
    park(lot, 1, now=0)
    park(lot, 2, now=50)
    assert [e.event_id for e in lot.expire(0, now=100)] == ["e1"]


def test_a_redelivered_event_catches_the_changelog_up_with_its_parking() -> None:
    kv = Changelogged()
    lot = lot_over(kv)
    park(lot, 1, ("email", "a@x"), ("phone", "+48"))
    kv.crash()  # kill -9: parked locally, the changelog never heard of it
    park(lot, 1, ("email", "a@x"), ("phone", "+48"))  # the event is re-delivered: already parked locally
    kv.flush()
    assert kv.changelog == dict(kv.local), "a cold restore would have lost the parked event"


def test_a_redelivered_claim_catches_the_changelog_up_with_the_removal() -> None:
    kv = Changelogged()
    lot = lot_over(kv)
    park(lot, 1, ("email", "a@x"))
    park(lot, 2, ("email", "b@x"))
    kv.flush()
    lot.remove(lot.claim(0, STORE, [("email", "a@x")]))
    kv.crash()  # kill -9 after the local removal, before its tombstones left
    assert lot.claim(0, STORE, [("email", "a@x")]) == []  # the registration is re-delivered
    kv.flush()
    assert kv.changelog == dict(kv.local), "a cold restore would have brought the forwarded event back"


def test_entries_whose_member_resolves_now_are_split_off_with_it() -> None:
    lot = lot_over(DictKeyValue())
    park(lot, 1, ("email", "a@x"))
    park(lot, 2, ("email", "b@x"))
    entries = lot.expire(0, now=1000)
    owners = {"e1": "customer-1"}
    known, rest = split_known(entries, lambda record: owners.get(str(record["customEventId"])))
    assert [(e.event_id, c) for e, c in known] == [("e1", "customer-1")]
    assert [e.event_id for e in rest] == ["e2"]


def test_a_first_delivery_that_claims_nothing_writes_nothing() -> None:
    kv = Changelogged()
    lot = lot_over(kv)
    assert lot.claim(0, STORE, [("email", "a@x"), ("phone", "+48")], redelivered=False) == []
    assert kv.pending == []
    lot.claim(0, STORE, [("email", "a@x")], redelivered=True)
    assert kv.pending, "a possibly re-delivered claim resends"


class CountedReads(DictKeyValue):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        self.reads.append(key)
        return super().get(key, default)


def test_a_first_delivery_to_a_partition_with_nothing_parked_reads_only_the_count() -> None:
    kv = CountedReads()
    lot = lot_over(kv)
    park(lot, 1, ("email", "a@x"))  # parked on partition 0, not on 1
    kv.reads.clear()
    assert lot.claim(1, STORE, [("email", "a@x"), ("phone", "+48")], redelivered=False) == []
    assert len(kv.reads) == 1, "a registration's signal reaches every partition: one read each where none wait"
    assert [e.event_id for e in lot.claim(0, STORE, [("email", "a@x")], redelivered=False)] == ["e1"]
