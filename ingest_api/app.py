"""The ingest API: ``create_app(settings)`` builds the FastAPI app; ``main`` serves it with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ingest_api import metrics
from ingest_api.claims import MemberCommands
from ingest_api.deps import Runtime
from ingest_api.errors import ApiError, BadRequest, FieldProblem, NotFound
from ingest_api.producer import AckedProducer
from ingest_api.routes import (
    achievements,
    batch,
    custom_event_reads,
    custom_events,
    health,
    member_reads,
    members,
    schemas,
    webhook_ops,
    webhooks,
)
from loyalty_stream.controlplane import ControlPlane
from loyalty_stream.members import MemberDirectory
from loyalty_stream.settings import Settings
from loyalty_stream.topics import build_topics
from schemas.serde import Serde

log = logging.getLogger(__name__)


def _path(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body",)]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(exc: RequestValidationError) -> list[FieldProblem]:
    problems = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        # pydantic puts model-level validator errors at the model's own location
        problems.append(
            FieldProblem(
                _path(loc) or "body", str(error.get("msg", "Invalid value.")), str(error.get("type", "invalid"))
            )
        )
    return problems


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        error = BadRequest(_problems(exc))
        return JSONResponse(error.body(), status_code=400)

    @app.exception_handler(404)
    async def not_found(_request: Request, _exc: Exception) -> JSONResponse:
        error = NotFound()
        return JSONResponse(error.body(), status_code=404)


def create_app(settings: Settings) -> FastAPI:
    serde = Serde(settings.schema_registry_url)
    topics = build_topics(settings)
    producer = AckedProducer(settings)
    member_directory = MemberDirectory(settings, serde)
    runtime = Runtime(
        settings=settings,
        serde=serde,
        topics=topics,
        producer=producer,
        control=ControlPlane(settings, serde),
        members=member_directory,
        member_commands=MemberCommands(settings, serde, topics, producer, member_directory),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.producer.start()
        runtime.control.start()
        runtime.members.start()
        runtime.member_commands.start()
        runtime.views.start()
        try:
            yield
        finally:
            runtime.views.stop()
            runtime.member_commands.stop()
            runtime.members.stop()
            runtime.control.stop()
            runtime.producer.close()

    app = FastAPI(
        title="loyalty-stream ingest API",
        version="0.1.0",
        description="Open Loyalty-compatible custom events, schemas, achievements, members and webhook subscriptions.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    _install_error_handlers(app)
    metrics.install(app)
    # custom_event_reads after schemas and batch: its /customEvent/{customEvent} must not shadow theirs
    for module in (custom_events, batch, schemas, achievements, members, member_reads, custom_event_reads):
        app.include_router(module.router)
    for module in (webhooks, webhook_ops, health):
        app.include_router(module.router)
    return app


def main(settings: Settings | None = None) -> None:
    import uvicorn

    from loyalty_stream.logs import configure_logging

    settings = settings or Settings()
    configure_logging(settings, service="ingest-api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
