"""The event loop every service runs on (loyalty_stream/config/loop.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

from loyalty_stream.config.loop import use_event_loop
from loyalty_stream.config.settings import Settings


@pytest.fixture(autouse=True)
def _policy_restored() -> Iterator[None]:
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


async def _running_loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


def test_services_run_on_uvloop_by_default() -> None:
    assert use_event_loop(Settings()) == "uvloop"
    assert isinstance(asyncio.run(_running_loop()), uvloop.Loop)


def test_the_standard_loop_on_request() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # as a service before it would have it
    assert use_event_loop(Settings(event_loop="asyncio")) == "asyncio"
    assert not isinstance(asyncio.run(_running_loop()), uvloop.Loop)


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(event_loop="trio")
