"""Deciding a member command: identifiers are unique per store among active members (docs/domain.md §2).

Pure: the agent passes the command and the store's member index (caught up with the members topic),
and writes what the decision says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loyalty_stream.domain.identity import identifiers_of
from loyalty_stream.replicas.members import MEMBER_IDENTIFIERS, MemberIndex

OPS = ("register", "update", "delete")


@dataclass(frozen=True, slots=True)
class Decision:
    accepted: bool
    member: dict[str, Any] | None = None  # the record to write (None with delete)
    previous: dict[str, Any] | None = None
    errors: list[dict[str, str]] = field(default_factory=list)
    unchanged: bool = False  # a re-delivered command already applied: answer again, write nothing new


def _same_member(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = (*MEMBER_IDENTIFIERS, "firstName", "lastName", "active", "attributes")
    return all(a.get(k) == b.get(k) for k in keys)


def decide(command: Mapping[str, Any], index: MemberIndex) -> Decision:
    op, store, customer_id = command["op"], command["storeCode"], command["customerId"]
    existing = index.get(store, customer_id)
    if op not in OPS:
        return Decision(False, errors=[{"path": "op", "message": f"unknown op {op!r}", "code": "invalid"}])
    if op == "delete":
        return Decision(True, None, existing, unchanged=existing is None)
    member = dict(command.get("member") or {})
    if not identifiers_of(member, MEMBER_IDENTIFIERS):
        return Decision(
            False,
            errors=[
                {
                    "path": "customer",
                    "message": "At least one of email, phone or loyaltyCardNumber is required.",
                    "code": "no_identifier",
                }
            ],
        )
    if op == "register" and existing is not None:
        if _same_member(existing, member):
            return Decision(True, existing, existing, unchanged=True)
        return Decision(
            False, errors=[{"path": "customerId", "message": "This member already exists.", "code": "exists"}]
        )
    if op == "update" and existing is None:
        return Decision(False, errors=[{"path": "customerId", "message": "Member not found.", "code": "not_found"}])
    if (
        existing is not None
        and existing.get("version", 0) >= member.get("version", 0)
        and _same_member(existing, member)
    ):
        return Decision(True, existing, existing, unchanged=True)
    taken = index.conflicts(store, customer_id, member) if member.get("active", True) else []
    if taken:
        return Decision(
            False,
            errors=[
                {"path": f"customer.{kind}", "message": "This value is already used.", "code": "already_used"}
                for kind in taken
            ],
        )
    version = max(int(member.get("version") or 0), int((existing or {}).get("version") or 0) + 1)
    return Decision(True, {**member, "storeCode": store, "customerId": customer_id, "version": version}, existing)
