"""Member reads: GET /api/{storeCode}/member, GET /api/{storeCode}/member/{member} and
GET /api/{storeCode}/member/{member}/achievement.

Members come from this API's copy of the members topic (``runtime.members``); progress from the
processor's progress changelog (``ingest_api.views``), so it trails the processor by a moment.
``{member}`` is a customerId (uuid) or ``email=…``, ``phone=…``, ``loyaltyCardNumber=…`` (matched after
normalisation, among active members); an unknown member is 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ingest_api.bodies import MemberAchievementList, MemberList, MemberOut
from ingest_api.deps import MemberRef, RuntimeDep, StoreDep
from ingest_api.listing import UTC_ZONE, field, page_of, parse_list_query
from ingest_api.member_ref import find_member
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.strict import rfc3339
from loyalty_stream.domain import member_achievements_view

router = APIRouter(tags=["Member"])

LIST = "/api/{storeCode}/member"
ITEM = "/api/{storeCode}/member/{member}"
ACHIEVEMENTS = "/api/{storeCode}/member/{member}/achievement"

MEMBER_FIELDS = {
    "customerId": field("customerId", "id"),
    "firstName": field("firstName"),
    "lastName": field("lastName"),
    "email": field("email", "email"),
    "phone": field("phone", "phone"),
    "loyaltyCardNumber": field("loyaltyCardNumber", "loyaltyCardNumber"),
    "active": field("active", "bool"),
    "gender": field("gender"),
    "birthDate": field("birthDate", "datetime"),
    "agreement1": field("agreement1", "bool"),
    "agreement2": field("agreement2", "bool"),
    "agreement3": field("agreement3", "bool"),
    "createdAt": field("createdAt", "datetime"),
    "registeredAt": field("registeredAt", "datetime"),
    "updatedAt": field("updatedAt", "datetime"),
    "address:street": field("address:street"),
    "address:address1": field("address:address1"),
    "address:address2": field("address:address2"),
    "address:province": field("address:province"),
    "address:city": field("address:city"),
    "address:postal": field("address:postal"),
    "address:country": field("address:country"),
}
# Listed by the contract, but about transactions, tiers, points or referrals, which loyalty-stream does not keep.
UNSUPPORTED_MEMBER_FILTERS = (
    "identifier",
    "emailOrPhone",
    "transactionsCount",
    "transactionsAmount",
    "transactionsAmountWithoutDeliveryCosts",
    "amountExcludedForLevel",
    "averageTransactionAmount",
    "levelAchievementDate",
    "labels",
    "lastTransactionDate",
    "firstTransactionDate",
    "levelId",
    "manuallyAssignedLevelId",
    "referralToken",
    "defaultAccount:activePoints",
    "defaultAccount:transferredPoints",
    "defaultAccount:lockedPoints",
    "defaultAccount:expiredPoints",
    "defaultAccount:spentPoints",
    "defaultAccount:earnedPoints",
    "defaultAccount:blockedPoints",
)
PROGRESS_FIELDS = {
    "achievementId": field("achievementId", "id"),
    "name": field("achievementName"),
    "completionCount": field("memberProgress:completedCount", "int"),
    "createdAt": field("createdAt", "datetime"),  # the achievement's; filtered on, not shown
}


def _strings(value: Any, keys: tuple[str, ...]) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    picked = {k: value[k] for k in keys if isinstance(value.get(k), str)}
    return picked or None


# Customer properties a registration may carry in `attributes`, each kept only when of the contract's type.
_ATTRIBUTES: dict[str, Any] = {
    "gender": lambda v: v if isinstance(v, str) else None,
    "birthDate": lambda v: v if isinstance(v, str) else None,
    "agreement1": lambda v: v if isinstance(v, bool) else None,
    "agreement2": lambda v: v if isinstance(v, bool) else None,
    "agreement3": lambda v: v if isinstance(v, bool) else None,
    "address": lambda v: _strings(v, ("street", "address1", "address2", "province", "city", "postal", "country")),
    "company": lambda v: _strings(v, ("name", "nip")),
    # Only well-formed labels: a registration's extra fields are stored as sent, and one label without a
    # string value must not break every listing of the store (schemathesis found that KeyError).
    "labels": lambda v: (
        [
            {"key": x["key"], "value": x["value"]}
            for x in v
            if isinstance(x, Mapping) and isinstance(x.get("key"), str) and isinstance(x.get("value"), str)
        ]
        if isinstance(v, list)
        else None
    ),
}


def customer_view(record: Mapping[str, Any], tz: ZoneInfo = UTC_ZONE) -> dict[str, Any]:
    """A Member record as the contract's Customer (with storeCode). Dates are RFC 3339 date-times (the
    contract's format; a date alone is midnight in store time ``tz``) or left out when they are no date."""
    out: dict[str, Any] = {
        "customerId": record["customerId"],
        "active": bool(record.get("active", True)),
        "storeCode": record["storeCode"],
    }
    for key in ("firstName", "lastName", "email", "phone", "loyaltyCardNumber"):
        if isinstance(record.get(key), str):
            out[key] = record[key]
    for key in ("registeredAt", "updatedAt"):
        value = rfc3339(record.get(key), tz)
        if value is not None:
            out[key] = value
    if "registeredAt" in out:
        out["createdAt"] = out["registeredAt"]
    try:
        attributes = orjson.loads(record.get("attributes") or "{}")
    except orjson.JSONDecodeError:
        attributes = {}
    if isinstance(attributes, Mapping):
        for key, keep in _ATTRIBUTES.items():
            value = keep(attributes.get(key)) if key in attributes else None
            if value is not None:
                out[key] = value
    if "birthDate" in out:
        birth = rfc3339(out.pop("birthDate"), tz)  # the registration form has a date, Customer a date-time
        if birth is not None:
            out["birthDate"] = birth
    return out


@router.get(LIST, response_model=MemberList, responses={**ERRORS, **NOT_FOUND})
async def list_members(request: Request, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    """Members of the store, filtered and paged in memory (the API holds every member's record anyway)."""
    query = parse_list_query(
        request.query_params,
        MEMBER_FIELDS,
        tz=store.tz,
        sortable=("registeredAt", "createdAt", "updatedAt", "firstName", "lastName", "email", "customerId"),
        scroll=True,
        unsupported=UNSUPPORTED_MEMBER_FILTERS,
    )
    records = list(runtime.members.index.members.items())
    items = [customer_view(r, store.tz) for (code, _id), r in records if code == store.code]
    if query.scroll is None:
        query = query.ordered_by("registeredAt")
    return JSONResponse(page_of(items, query, MEMBER_FIELDS, id_of=lambda i: i["customerId"]))


@router.get(ITEM, response_model=MemberOut, responses={**ERRORS, **NOT_FOUND})
async def get_member(member: MemberRef, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    return JSONResponse(customer_view(find_member(runtime.members.index, store.code, member), store.tz))


@router.get(ACHIEVEMENTS, response_model=MemberAchievementList, responses={**ERRORS, **NOT_FOUND})
async def get_member_achievements(
    member: MemberRef, request: Request, store: StoreDep, runtime: RuntimeDep
) -> JSONResponse:
    """Progress on every active achievement of the store, as of now in store time (docs/domain.md §5)."""
    query = parse_list_query(request.query_params, PROGRESS_FIELDS, tz=store.tz, sortable=("name", "createdAt"))
    record = find_member(runtime.members.index, store.code, member)
    runtime.views.require_loaded()
    state = runtime.views.member_state(store.code, record["customerId"])
    achievements = runtime.catalog.for_store(store.code)
    items = member_achievements_view(state, achievements, tz=store.tz, now=datetime.now(UTC))
    for item in items:
        stored = runtime.control.achievements.get((store.code, item["achievementId"])) or {}
        item["createdAt"] = stored.get("createdAt")
    body = page_of(items, query, PROGRESS_FIELDS, id_of=lambda i: i["achievementId"])
    for item in body["items"]:
        del item["createdAt"]
    return JSONResponse(body)
