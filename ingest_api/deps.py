"""Dependencies of the routes: the runtime (producer, control plane) and store authentication + rate limit."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader

from ingest_api.claims import MemberCommands
from ingest_api.errors import Forbidden, NotAuthenticated, NotFound
from ingest_api.producer import AckedProducer
from ingest_api.rate_limit import RateLimiter
from ingest_api.views import ReadModels
from loyalty_stream.config.settings import Settings, Store
from loyalty_stream.kafka.topics import Topics
from loyalty_stream.replicas.catalog import AchievementCatalog
from loyalty_stream.replicas.controlplane import ControlPlane
from loyalty_stream.replicas.members import MemberDirectory
from schemas.serde import Serde


@dataclass
class Runtime:
    """Everything the routes share; built once by ``create_app``."""

    settings: Settings
    serde: Serde
    topics: Topics
    producer: AckedProducer
    control: ControlPlane
    members: MemberDirectory
    member_commands: MemberCommands
    written: dict[str, int] = field(default_factory=dict)  # control topic → next offset after our last write

    @cached_property
    def catalog(self) -> AchievementCatalog:
        """The control plane's achievements, parsed (cached until the control plane changes)."""
        return AchievementCatalog(self.control)

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        """One token bucket per store in this process (``ingest_api.rate_limit``)."""
        return RateLimiter(self.settings.api_rate_limit_per_second, self.settings.api_rate_limit_burst)

    @cached_property
    def views(self) -> ReadModels:
        """Event outcomes and members' progress, materialised from the processor's topics."""
        return ReadModels(self.settings, self.serde, self.topics)

    def note_write(self, topic: str, offset: int) -> None:
        self.written[topic] = max(self.written.get(topic, 0), offset + 1)

    def control_offsets(self) -> dict[str, int]:
        """What this instance has seen or written of each control topic, stamped on every event."""
        mirror = self.control.mirror
        return {t.name: max(mirror.position(t.name, 0), self.written.get(t.name, 0)) for t in self.topics.control_plane}

    async def await_own_write(self, topic: str, offset: int) -> None:
        # Read-your-writes for GETs on this instance: answer only once our copy includes the write.
        self.note_write(topic, offset)
        await self.control.mirror.wait_async({(topic, 0): offset + 1}, timeout=self.settings.produce_timeout_seconds)


async def get_runtime(request: Request) -> Runtime:
    # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop on every request
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _key_matches(candidate: str, keys: frozenset[str]) -> bool:
    return any(hmac.compare_digest(candidate.encode(), k.encode()) for k in keys)


STORE_CODE = r"^[A-Za-z0-9_-]{1,64}$"  # docs/domain.md §1; a malformed code is 400 before authentication
# The contract's security scheme ("token", an API key in X-AUTH-TOKEN); missing → our 401, not FastAPI's 403.
API_KEY = APIKeyHeader(
    name="X-AUTH-TOKEN", scheme_name="token", description="API key of a store (tenant)", auto_error=False
)


def authenticate(settings: Settings, store_code: str, token: str | None) -> Store:
    """401 without a known key, 403 with another store's key, 404 for an unknown store (after auth)."""
    if not token:
        raise NotAuthenticated()
    if _key_matches(token, settings.admin_key_set):
        store = settings.store_map.get(store_code)
        if store is None:
            raise NotFound()
        return store
    store = settings.store_map.get(store_code)
    if store is not None and _key_matches(token, store.api_keys):
        return store
    if any(_key_matches(token, s.api_keys) for s in settings.store_map.values()):
        raise Forbidden()
    raise NotAuthenticated()


async def authenticated_store(
    runtime: RuntimeDep,
    store_code: Annotated[str, Path(alias="storeCode", min_length=1, max_length=64, pattern=STORE_CODE)],
    token: Annotated[str | None, Security(API_KEY)] = None,
) -> Store:
    """The store the request may act on, then one request off its rate limit (429 when it has none left).

    ``async``: it is cheap, and a sync dependency would cost every request a trip through the thread pool.
    """
    store = authenticate(runtime.settings, store_code, token)
    runtime.rate_limiter.check(store.code)
    return store


StoreDep = Annotated[Store, Depends(authenticated_store)]
# An id in a path (achievementId, customEventId, eventType): at most 255 characters like every string.
PathId = Annotated[str, Path(min_length=1, max_length=255)]
# {member}: a customerId, or email=…, phone=…, loyaltyCardNumber=… (a 255-character value plus its prefix).
MemberRef = Annotated[str, Path(min_length=1, max_length=255 + len("loyaltyCardNumber="))]
