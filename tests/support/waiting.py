"""Waiting on a condition inside a test's event loop (the async twin of loyalty_stream.tools.procs.wait_until)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(check: Callable[[], bool], *, what: str, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Poll ``check`` between turns of the loop until it is true; raise TimeoutError naming ``what`` at the
    deadline."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(interval)
