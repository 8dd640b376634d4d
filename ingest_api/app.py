"""The ingest API: ``create_app(settings)`` builds the FastAPI app; ``main`` serves it with uvicorn."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ingest_api import metrics
from ingest_api.body_guard import BodyGuard
from ingest_api.claims import MemberCommands
from ingest_api.deps import Runtime
from ingest_api.errors import (
    ApiError,
    BadRequest,
    FieldProblem,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    bad_request,
    error_response,
)
from ingest_api.fast_path import FastEvents
from ingest_api.producer import AckedProducer
from ingest_api.responses import NOT_FOUND
from ingest_api.routes import (
    achievements,
    batch,
    custom_event_reads,
    custom_events,
    health,
    member_reads,
    members,
    schemas,
    transactions,
    webhook_ops,
    webhooks,
)
from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.replicas.controlplane import ControlPlane
from loyalty_stream.replicas.members import MemberDirectory
from schemas.serde import Serde

log = logging.getLogger(__name__)


_LOCATIONS = ("body", "path", "query", "header", "cookie")


def _path(loc: tuple[Any, ...]) -> str:
    parts = list(loc[1:] if loc and loc[0] in _LOCATIONS else loc)
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


def _http_error(exc: HTTPException) -> ApiError:
    """Starlette's and FastAPI's own HTTP errors (unknown path, wrong method, bad body) in Open Loyalty's shapes."""
    if exc.status_code == 404:
        return NotFound()
    if exc.status_code == 405:
        return MethodNotAllowed()
    if exc.status_code == 413:
        return PayloadTooLarge()
    if exc.status_code == 400:
        return bad_request("body", str(exc.detail), "invalid_body")
    error = ApiError(str(exc.detail))
    error.status = exc.status_code
    return error


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(BadRequest(_problems(exc)))

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        response = error_response(_http_error(exc))
        response.headers.update(exc.headers or {})  # e.g. Allow on a 405
        return response


def _install_openapi(app: FastAPI) -> None:
    """Our OpenAPI as the API answers: FastAPI's 422 never happens (validation errors are 400), and an admin
    key on an unknown store gets 404 on every store path."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    if path.startswith("/api/{storeCode}/"):
                        responses.setdefault("404", NOT_FOUND[404])
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


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
        description=(
            "Open Loyalty-compatible custom events, transactions, schemas, achievements, members and webhook"
            " subscriptions."
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    _install_error_handlers(app)
    _install_openapi(app)
    # Added before the metrics middleware, so that one wraps them and counts their 413s; the fast path of
    # POST /customEvent in front of the body guard, to which it hands what it does not answer.
    app.add_middleware(BodyGuard, settings=settings)
    app.add_middleware(FastEvents, fastapi=app)
    metrics.install(app)
    # custom_event_reads after schemas and batch: its /customEvent/{customEvent} must not shadow theirs
    for module in (
        custom_events,
        batch,
        schemas,
        achievements,
        members,
        member_reads,
        custom_event_reads,
        transactions,
    ):
        app.include_router(module.router)
    for module in (webhooks, webhook_ops, health):
        app.include_router(module.router)
    return app


def main(settings: Settings | None = None) -> None:
    import uvicorn

    from loyalty_stream.config.collector import tune_collector
    from loyalty_stream.config.logs import configure_logging
    from loyalty_stream.config.loop import use_event_loop

    settings = settings or Settings()
    configure_logging(settings, service="ingest-api")
    app = create_app(settings)
    tune_collector()  # everything is imported and built: what is left is per-request garbage
    uvicorn.run(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop=use_event_loop(settings),  # uvicorn sets the same policy again; asyncio where uvloop is missing
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
