"""Achievements: POST /api/{storeCode}/achievement."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter

from ingest_api.deps import RuntimeDep, StoreDep
from ingest_api.errors import BadRequest, FieldProblem
from ingest_api.models import AchievementCreated, AchievementRequest
from ingest_api.responses import ERRORS
from loyalty_stream.clock import iso_utc
from loyalty_stream.domain import AchievementInvalid, parse_achievement
from loyalty_stream.keys import join_key

router = APIRouter(tags=["Achievement"])


@router.post("/api/{storeCode}/achievement", response_model=AchievementCreated, responses=ERRORS)
async def post_achievement(body: AchievementRequest, store: StoreDep, runtime: RuntimeDep) -> AchievementCreated:
    achievement_id = str(uuid.uuid4())
    try:
        achievement = parse_achievement(body.achievement, achievement_id=achievement_id, store_code=store.code)
    except AchievementInvalid as exc:
        raise BadRequest([FieldProblem(f"achievement.{e.path}", e.message) for e in exc.errors]) from exc
    now = iso_utc()
    record = {
        "storeCode": store.code,
        "achievementId": achievement_id,
        "rulesVersion": 1,
        "definition": orjson.dumps(achievement.definition).decode(),
        "createdAt": now,
        "updatedAt": now,
    }
    topic = runtime.topics.achievements.name
    _partition, offset = await runtime.producer.send(
        topic, runtime.serde.encode("Achievement", record), key=join_key(store.code, achievement_id)
    )
    await runtime.await_own_write(topic, offset)
    return AchievementCreated(achievementId=achievement_id)
