"""The event loop of every service (``LOYALTY_EVENT_LOOP``): uvloop by default, asyncio's own on request.

uvloop comes with ``uvicorn[standard]``; the API's uvicorn already ran on it. It cut the processor's CPU per event
by 7-8 % (faust's per-message futures and callbacks run on the loop; docs/benchmarks.md, "2026-12-06, night")."""

from __future__ import annotations

import asyncio
from typing import Literal

from loyalty_stream.config.settings import Settings


def use_event_loop(settings: Settings) -> Literal["uvloop", "asyncio"]:
    """Install the chosen loop's policy before any loop exists (faust's services take theirs when built);
    return its name: ``asyncio`` where uvloop is not installed."""
    if settings.event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:  # a platform without its wheels: the standard loop does the same work
            return "asyncio"
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        return "uvloop"
    asyncio.set_event_loop_policy(asyncio.DefaultEventLoopPolicy())
    return "asyncio"
