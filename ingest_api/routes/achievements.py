"""Achievements: POST/GET /api/{storeCode}/achievement, GET/PUT/PATCH /api/{storeCode}/achievement/{achievement}.

Definitions live on the one-partition compacted achievements topic; every write is read back into this
instance's copy before the answer (read-your-writes), and announced with an ``AchievementCreated`` or
``AchievementUpdated`` webhook on the webhooks topic. A PUT or PATCH that changes the rules bumps
``rulesVersion`` (members' progress on it then resets lazily in the processor); name, description,
activity, active and limit changes do not.
"""

from __future__ import annotations

import copy
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ingest_api.bodies import AchievementDetails, AchievementList
from ingest_api.deps import PathId, Runtime, RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, BrokerUnavailable, FieldProblem, NotFound
from ingest_api.listing import field, page_of, parse_list_query
from ingest_api.models import AchievementCreated, AchievementRequest
from ingest_api.responses import ERRORS, NOT_FOUND
from ingest_api.strict import json_problems
from loyalty_stream.config.settings import Store
from loyalty_stream.domain import (
    NAMESPACE,
    Achievement,
    AchievementInvalid,
    achievement_view,
    achievement_webhook_data,
    not_evaluated,
    parse_achievement,
    rules_differ,
)
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key

log = logging.getLogger(__name__)
router = APIRouter(tags=["Achievement"])

LIST = "/api/{storeCode}/achievement"
ITEM = "/api/{storeCode}/achievement/{achievement}"
NO_CONTENT = {204: {"description": "Success. No content."}}
LIST_FIELDS = {
    "achievementId": field("achievementId", "id"),
    "name": field("name"),
    "active": field("active", "bool"),
    "createdAt": field("createdAt", "datetime"),
    "updatedAt": field("updatedAt", "datetime"),
}
CREATED, UPDATED = "AchievementCreated", "AchievementUpdated"


def _invalid(exc: AchievementInvalid) -> BadRequest:
    return BadRequest([FieldProblem(f"achievement.{e.path}", e.message) for e in exc.errors])


def _parse(body: Any, store: Store, achievement_id: str, rules_version: int) -> Achievement:
    # Strings ≤ 255 characters (a translation's description ≤ 4,096), keys too; safe integers; bounded nesting.
    problems = json_problems(body, "achievement", long_text=("description",))
    if problems:
        raise BadRequest(problems)
    try:
        achievement = parse_achievement(
            body, achievement_id=achievement_id, store_code=store.code, rules_version=rules_version
        )
        unsupported = not_evaluated(achievement)  # accepted, it would never count: refused until built
        if unsupported:
            raise AchievementInvalid(unsupported)
    except AchievementInvalid as exc:
        raise _invalid(exc) from exc
    return achievement


def _stored(runtime: Runtime, store: Store, achievement_id: str) -> tuple[dict[str, Any], Achievement]:
    record = runtime.control.achievements.get((store.code, achievement_id))
    parsed = runtime.catalog.get(store.code, achievement_id)
    if record is None or parsed is None:
        raise NotFound()
    return record, parsed


def achievement_message(store: str, achievement: Achievement, event_name: str, at: str) -> dict[str, Any]:
    """The WebhookMessage announcing a created or updated achievement; its id repeats for the same write."""
    return {
        "messageId": str(uuid.uuid5(NAMESPACE, f"{store}/{achievement.achievement_id}/{event_name}/{at}")),
        "eventName": event_name,
        "storeCode": store,
        "createdAt": at,
        "data": orjson.dumps(achievement_webhook_data(achievement)).decode(),
        "customerId": None,
    }


async def _save(runtime: Runtime, store: Store, achievement: Achievement, created_at: str | None, event: str) -> None:
    """Write the definition, then its webhook; answer once this instance's copy holds the write.

    The webhook is written only after the definition is acknowledged, so no receiver hears of an
    achievement that was not stored. If that second write fails the change still stands (a 503 would make
    a client retry a POST into a second achievement): it is logged with the messageId instead.
    """
    now = iso_utc()
    record = {
        "storeCode": store.code,
        "achievementId": achievement.achievement_id,
        "rulesVersion": achievement.rules_version,
        "definition": orjson.dumps(achievement.definition).decode(),
        "createdAt": created_at or now,
        "updatedAt": now,
    }
    topic = runtime.topics.achievements.name
    key = join_key(store.code, achievement.achievement_id)
    _partition, offset = await runtime.producer.send(
        topic, runtime.serde.encode_for(runtime.topics.achievements, record), key=key
    )
    message = achievement_message(store.code, achievement, event, now)
    try:
        await runtime.producer.send(
            runtime.topics.webhooks.name, runtime.serde.encode_for(runtime.topics.webhooks, message), key=key
        )
    except BrokerUnavailable as exc:
        log.error("%s webhook %s for %s not written: %s", event, message["messageId"], key.decode(), exc)
    await runtime.await_own_write(topic, offset)


@router.post(LIST, response_model=AchievementCreated, responses=ERRORS)
async def post_achievement(body: AchievementRequest, store: StoreDep, runtime: RuntimeDep) -> AchievementCreated:
    achievement = _parse(body.achievement, store, str(uuid.uuid4()), 1)
    await _save(runtime, store, achievement, None, CREATED)
    return AchievementCreated(achievementId=achievement.achievement_id)


@router.get(LIST, response_model=AchievementList, responses=ERRORS)
async def list_achievements(request: Request, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    query = parse_list_query(request.query_params, LIST_FIELDS, tz=store.tz, sortable=tuple(LIST_FIELDS))
    items = []
    for (code, achievement_id), record in list(runtime.control.achievements.items()):
        parsed = runtime.catalog.get(code, achievement_id) if code == store.code else None
        if parsed is not None:
            items.append(
                {
                    "achievementId": achievement_id,
                    "name": parsed.name,
                    "active": parsed.active,
                    "createdAt": record.get("createdAt"),
                    "updatedAt": record.get("updatedAt"),
                }
            )
    body = page_of(items, query.ordered_by("createdAt"), LIST_FIELDS, id_of=lambda i: i["achievementId"])
    for item in body["items"]:
        item.pop("updatedAt", None)  # filterable, but not part of AchievementBasicData
    return JSONResponse(body)


@router.get(ITEM, response_model=AchievementDetails, responses={**ERRORS, **NOT_FOUND})
async def get_achievement(achievement: PathId, store: StoreDep, runtime: RuntimeDep) -> JSONResponse:
    _record, parsed = _stored(runtime, store, achievement)
    return JSONResponse(achievement_view(parsed))


async def _update(runtime: Runtime, store: Store, record: dict[str, Any], old: Achievement, new_body: Any) -> None:
    version = int(record.get("rulesVersion", 1))
    new = _parse(new_body, store, old.achievement_id, version)
    if rules_differ(old, new):
        new = _parse(new_body, store, old.achievement_id, version + 1)  # new version, new achievementRuleIds
    await _save(runtime, store, new, record.get("createdAt"), UPDATED)


@router.put(ITEM, status_code=204, response_class=Response, responses={**NO_CONTENT, **ERRORS, **NOT_FOUND})
async def put_achievement(
    achievement: PathId, body: AchievementRequest, store: StoreDep, runtime: RuntimeDep
) -> Response:
    record, old = _stored(runtime, store, achievement)
    await _update(runtime, store, record, old, body.achievement)
    return Response(status_code=204)


@router.patch(ITEM, status_code=204, response_class=Response, responses={**NO_CONTENT, **ERRORS, **NOT_FOUND})
async def patch_achievement(
    achievement: PathId, body: AchievementRequest, store: StoreDep, runtime: RuntimeDep
) -> Response:
    record, old = _stored(runtime, store, achievement)
    merged = merge_patch(old, body.achievement)
    await _update(runtime, store, record, old, merged)
    return Response(status_code=204)


def _merge_translations(current: Any, patch: Any) -> Any:
    """Per locale and per key: ``{"en": {"name": "New"}}`` keeps the stored description."""
    if not isinstance(current, Mapping) or not isinstance(patch, Mapping):
        return patch
    out = {locale: dict(entry) for locale, entry in current.items() if isinstance(entry, Mapping)}
    for locale, entry in patch.items():
        out[locale] = {**out.get(locale, {}), **entry} if isinstance(entry, Mapping) else entry
    return out


def merge_patch(current: Achievement, patch: Mapping[str, Any]) -> dict[str, Any]:
    """PatchAchievementFormType over the stored definition.

    ``translations`` merge per locale and key; ``active``, ``activity`` and ``limit`` replace the stored
    value when present (``"limit": {"value": null}`` removes the limit). ``rules`` items name an existing
    rule by ``achievementRuleId``: their ``translations`` merge, and any other rule field they carry
    (conditions, limit, completeRule, …: our extension) replaces that field. Rules cannot be added or
    removed by PATCH (use PUT); unlisted rules stay as they are.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(current.definition))
    if "translations" in patch:
        merged["translations"] = _merge_translations(merged.get("translations"), patch["translations"])
    for key in ("active", "activity", "limit"):
        if key in patch:
            merged[key] = patch[key]
    rules = patch.get("rules")
    if rules is None:
        return merged
    if not isinstance(rules, list):
        raise BadRequest([FieldProblem("achievement.rules", "must be a list of {achievementRuleId, …}")])
    ids = {rule.rule_id: index for index, rule in enumerate(current.rules)}
    problems = []
    for j, item in enumerate(rules):
        rule_id = item.get("achievementRuleId") if isinstance(item, Mapping) else None
        if not isinstance(rule_id, str) or rule_id not in ids:  # an object as id was a 500 (unhashable)
            problems.append(
                FieldProblem(
                    f"achievement.rules[{j}].achievementRuleId",
                    "must be the achievementRuleId of one of this achievement's rules",
                    "unknown_rule",
                )
            )
            continue
        target = merged["rules"][ids[rule_id]]
        for key, value in item.items():
            if key == "translations":
                target["translations"] = _merge_translations(target.get("translations"), value)
            elif key != "achievementRuleId":
                target[key] = value
    if problems:
        raise BadRequest(problems)
    return merged
