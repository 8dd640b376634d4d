"""GET /health (the process is up) and GET /ready (it can do its job)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ingest_api.deps import RuntimeDep
from loyalty_stream.kafka.client import TopicMismatch, admin, check_topics
from loyalty_stream.kafka.health import group_is_active

router = APIRouter(tags=["Operations"])


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _readiness(runtime: Any) -> dict[str, Any]:
    settings = runtime.settings
    checks: dict[str, Any] = {}
    try:
        client = admin(settings)
        client.list_topics(timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {exc}"
        return checks
    try:
        check_topics(settings, timeout=2)
        checks["topics"] = "ok"
    except (TopicMismatch, Exception) as exc:
        checks["topics"] = str(exc)
    checks["controlPlane"] = "ok" if runtime.control.mirror.caught_up else "catching up"
    checks["members"] = "ok" if runtime.members.mirror.caught_up else "catching up"
    checks["readModels"] = "ok" if runtime.views.caught_up else "catching up"
    checks["processor"] = "ok" if group_is_active(client, settings.processor_app_id) else "no active worker"
    checks["sender"] = "ok" if group_is_active(client, settings.sender_group) else "no active sender"
    return checks


_READY = {
    "type": "object",
    "required": ["status", "checks"],
    "properties": {"status": {"type": "string"}, "checks": {"type": "object"}},
}
READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Ready: every check is ok", "content": {"application/json": {"schema": _READY}}},
    503: {"description": "Not ready: some check is not ok", "content": {"application/json": {"schema": _READY}}},
}


@router.get("/ready", responses=READY_RESPONSES)
async def ready(runtime: RuntimeDep) -> JSONResponse:
    checks = await asyncio.to_thread(_readiness, runtime)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503)
