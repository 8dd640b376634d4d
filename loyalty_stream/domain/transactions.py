"""Transactions as a trigger: Open Loyalty's ``PostTransaction`` checked once (by the API, which answers 400 at
the field, and by the processor for transactions produced straight to Kafka), and turned into the facts that
transaction rules see. Pure.

A transaction travels the custom events' road (docs/decisions.md "Transactions ride the input topic"): its
facts are the ``body`` of an event whose type is ``events.TRANSACTION_TYPE``, a key no custom event type can take
(the schema API refuses it), so every rule semantic, the dedup and the crash guarantees are the same ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from .conditions import ITEM_FIELDS
from .identity import IDENTIFIERS
from .numbers import finite_number, normalise, to_json
from .validation import MAX_SAFE_NUMBER, MAX_STRING, Problem, event_date_of

DOCUMENT_TYPES: Final = ("sell", "return")
CUSTOMER_FIELDS: Final = ("customerId", "email", "phone", "loyaltyCardNumber", "name", "nip")
MAX_ITEMS: Final = 1000
MAX_LABELS: Final = 100
_INVALID = "invalid_transaction"  # the dead-letter reason of a transaction read from Kafka


def _problem(path: str, message: str, code: str = "invalid", reason: str = _INVALID) -> Problem:
    return Problem(path, message, code, reason)


class _Reader:
    """Reads one part of the body, noting what is wrong by its path."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def text(self, raw: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.problems.append(_problem(f"{path}{key}", "This value should not be blank.", "required",
                                              "missing_field"))  # fmt: skip
            return None
        if not isinstance(value, str) or (required and not value.strip()):
            self.problems.append(_problem(f"{path}{key}", "This value should be of type string."))
            return None
        if len(value) > MAX_STRING:
            message = f"This value is too long. It should have {MAX_STRING} characters or less."
            self.problems.append(_problem(f"{path}{key}", message, "too_long"))
            return None
        return value

    def number(self, raw: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Any:
        value = raw.get(key)
        if value is None:
            if required:
                self.problems.append(_problem(f"{path}{key}", "This value should not be blank.", "required"))
            return None
        number = None if isinstance(value, bool) else finite_number(value)
        if number is None or not -MAX_SAFE_NUMBER <= number <= MAX_SAFE_NUMBER:
            self.problems.append(_problem(f"{path}{key}", "This value should be a finite number."))
            return None
        return value

    def labels(self, raw: Mapping[str, Any], path: str) -> list[dict[str, str]]:
        value = raw.get("labels")
        if value is None:
            return []
        if not isinstance(value, list) or len(value) > MAX_LABELS:
            self.problems.append(_problem(f"{path}labels", f"This value should be a list of at most {MAX_LABELS}."))
            return []
        out = []
        for i, label in enumerate(value):
            where = f"{path}labels[{i}]."
            if not isinstance(label, Mapping):
                self.problems.append(_problem(where[:-1], "This value should be an object with key and value."))
                continue
            key, text = self.text(label, "key", where, required=True), self.text(label, "value", where, required=True)
            if key is not None and text is not None:
                out.append({"key": key, "value": text})
        return out

    def unknown(self, raw: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
        for key in raw:
            if key not in allowed:
                self.problems.append(_problem(f"{path}{key}", "This field was not expected.", "extra_field"))


_TRANSACTION_KEYS: Final = frozenset({"header", "items", "customerData", "channelId"})
_HEADER_KEYS: Final = frozenset(
    {"documentNumber", "documentType", "linkedDocumentNumber", "purchasedAt", "purchasePlace", "labels"}
)


def _item(reader: _Reader, raw: Any, path: str) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping):
        reader.problems.append(_problem(path, "This value should be an object."))
        return None
    where = f"{path}."
    reader.unknown(raw, ITEM_FIELDS, where)
    item: dict[str, Any] = {
        "sku": reader.text(raw, "sku", where, required=True),
        "name": reader.text(raw, "name", where, required=True),
        "grossValue": reader.number(raw, "grossValue", where, required=True),
        "category": reader.text(raw, "category", where, required=True),
        "maker": reader.text(raw, "maker", where),
        "quantity": None,
        "highPrecisionQuantity": reader.number(raw, "highPrecisionQuantity", where),
        "labels": reader.labels(raw, where),
    }
    quantity = raw.get("quantity")
    if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
        reader.problems.append(_problem(f"{where}quantity", "This value should be of type integer."))
    elif quantity is not None:
        item["quantity"] = reader.number(raw, "quantity", where)
    if raw.get("quantity") is None and raw.get("highPrecisionQuantity") is None:
        message = "One of quantity or highPrecisionQuantity is required."
        reader.problems.append(_problem(f"{where}quantity", message, "required"))
    return item


def transaction_problems(
    raw: Any, tz: ZoneInfo, now: datetime
) -> tuple[dict[str, Any] | None, datetime | None, list[Problem]]:
    """(the facts transaction rules see, when nothing is wrong; header.purchasedAt as an instant; everything
    wrong with the ``transaction`` object of a PostTransaction body, paths relative to it)."""
    reader = _Reader()
    if not isinstance(raw, Mapping):
        return None, None, [_problem("", "This value should be an object.", "invalid", "missing_field")]
    reader.unknown(raw, _TRANSACTION_KEYS, "")
    header = raw.get("header")
    if not isinstance(header, Mapping):
        reader.problems.append(_problem("header", "This value should not be blank.", "required", "missing_field"))
        header = {}
    reader.unknown(header, _HEADER_KEYS, "header.")
    document_number = reader.text(header, "documentNumber", "header.", required=True)
    document_type = header.get("documentType", "sell")
    if document_type not in DOCUMENT_TYPES:
        reader.problems.append(_problem("header.documentType", "The value you selected is not a valid choice."))
    moment: datetime | None = None
    if "purchasedAt" not in header:
        reader.problems.append(
            _problem("header.purchasedAt", "This value should not be blank.", "required", "missing_field")
        )
    else:
        found = event_date_of(header["purchasedAt"], tz, now)
        if isinstance(found, Problem):
            reader.problems.append(Problem("header.purchasedAt", found.message, found.code, found.reason))
        else:
            moment = found
    facts: dict[str, Any] = {
        "documentNumber": document_number,
        "documentType": document_type,
        "linkedDocumentNumber": reader.text(header, "linkedDocumentNumber", "header."),
        "purchasedAt": header.get("purchasedAt"),
        "purchasePlace": reader.text(header, "purchasePlace", "header."),
        "labels": reader.labels(header, "header."),
        "channelId": _channel(reader, raw.get("channelId")),
    }
    raw_items = raw.get("items")
    items: list[dict[str, Any]] = []
    if not isinstance(raw_items, list) or len(raw_items) > MAX_ITEMS:
        reader.problems.append(_problem("items", f"This value should be a list of at most {MAX_ITEMS} items."))
    else:
        for i, raw_item in enumerate(raw_items):
            item = _item(reader, raw_item, f"items[{i}]")
            if item is not None:
                items.append(item)
    customer = raw.get("customerData")
    if customer is not None:
        if not isinstance(customer, Mapping):
            reader.problems.append(_problem("customerData", "This value should be an object."))
        else:
            reader.unknown(customer, frozenset({*CUSTOMER_FIELDS, "address"}), "customerData.")
            for key in CUSTOMER_FIELDS:
                reader.text(customer, key, "customerData.")
    if reader.problems:
        return None, moment, reader.problems
    facts["items"] = items
    facts["grossValue"] = gross_value(items)
    return facts, moment, []


def _channel(reader: _Reader, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            pass
    reader.problems.append(_problem("channelId", "This is not a valid UUID."))
    return None


def gross_value(items: list[dict[str, Any]]) -> int | float:
    """The transaction's gross value: the exact sum of its items' (Open Loyalty's ``Transaction.grossValue``)."""
    total = sum((Decimal(finite_number(i["grossValue"]) or 0) for i in items), Decimal(0))
    return to_json(normalise(total))


def customer_identifiers(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The identifiers of a transaction's ``customerData`` (what matches it to a member), as given."""
    customer = raw.get("customerData")
    if not isinstance(customer, Mapping):
        return {}
    return {k: customer.get(k) for k in IDENTIFIERS}


TRANSACTION_REGISTERED: Final = "TransactionRegistered"
TRANSACTION_ASSIGNED: Final = "TransactionAssignedToCustomer"


def registered_data(
    transaction_id: str, facts: Mapping[str, Any], customer: Mapping[str, Any], purchased_at: str
) -> dict[str, Any]:
    """``data`` of Open Loyalty's TransactionRegistered webhook (``purchased_at`` in store time)."""
    items = [
        {
            "sku": {"code": i["sku"]},
            "name": i["name"],
            "quantity": i["quantity"] if i.get("quantity") is not None else round(i.get("highPrecisionQuantity") or 0),
            "grossValue": i["grossValue"],
            "category": i["category"],
            **({"maker": i["maker"]} if i.get("maker") is not None else {}),
            "labels": i.get("labels") or [],
        }
        for i in facts.get("items") or []
    ]
    data: dict[str, Any] = {
        "transactionId": transaction_id,
        "documentNumber": facts["documentNumber"],
        "purchasedAt": purchased_at,
        "documentType": facts.get("documentType") or "sell",
        "customerData": {k: v for k, v in customer.items() if k != "customerId" and v is not None},
        "items": items,
    }
    if facts.get("channelId"):
        data["channelId"] = facts["channelId"]
    return data


def assigned_data(transaction_id: str, facts: Mapping[str, Any], member: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` of Open Loyalty's TransactionAssignedToCustomer webhook (``member``: its WebhookCustomer view)."""
    return {"transactionId": transaction_id, "grossValue": facts.get("grossValue", 0), "customer": dict(member)}
