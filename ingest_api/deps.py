"""Dependencies of the routes: the runtime (producer, control plane) and store authentication."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from ingest_api.claims import MemberCommands
from ingest_api.errors import Forbidden, NotAuthenticated, NotFound
from ingest_api.producer import AckedProducer
from ingest_api.views import ReadModels
from loyalty_stream.catalog import AchievementCatalog
from loyalty_stream.controlplane import ControlPlane
from loyalty_stream.members import MemberDirectory
from loyalty_stream.settings import Settings, Store
from loyalty_stream.topics import Topics
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


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _key_matches(candidate: str, keys: frozenset[str]) -> bool:
    return any(hmac.compare_digest(candidate.encode(), k.encode()) for k in keys)


def authenticated_store(
    runtime: RuntimeDep,
    store_code: Annotated[str, Path(alias="storeCode", max_length=64)],
    token: Annotated[str | None, Header(alias="X-AUTH-TOKEN")] = None,
) -> Store:
    """401 without a known key, 403 with another store's key, 404 for an unknown store (after auth)."""
    settings = runtime.settings
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


StoreDep = Annotated[Store, Depends(authenticated_store)]
