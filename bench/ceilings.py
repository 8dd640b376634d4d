"""What the libraries under the processor can do on the same pre-loaded input, in the same run: the ceilings the
processor's figure is read against.

- ``consumer``: aiokafka's consumer alone (``getmany``), no work: what faust's transport can fetch.
- ``faust``: a bare faust agent taking the input in batches, no work (bench/faust_bare.py), as faust-streaming
  comes (``stock``) and with processors/faust_compat.py and the processor's stream settings (``patched``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

from bench.harness import Procs
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import free_port


def consumer(run: Any, data: Any) -> dict[str, Any]:
    """aiokafka's consumer alone drains the pre-loaded input."""
    from aiokafka import AIOKafkaConsumer

    s = data.settings
    topic = build_topics(s).custom_events.name

    async def drain() -> tuple[int, float]:
        c = AIOKafkaConsumer(
            topic,
            bootstrap_servers=s.bootstrap_servers,
            group_id=f"bench-aiokafka-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            max_poll_records=5000,
        )
        await c.start()
        n, first = 0, 0.0
        try:
            deadline = time.monotonic() + run.args.timeout
            while n < data.events and time.monotonic() < deadline:
                for records in (await c.getmany(timeout_ms=1000, max_records=5000)).values():
                    first = first or time.monotonic()
                    n += len(records)
        finally:
            await c.stop()
        return n, time.monotonic() - first

    n, seconds = asyncio.run(drain())
    return {"events": n, "seconds": round(seconds, 2), "events_per_s": round(n / seconds)}


def faust(run: Any, data: Any) -> dict[str, Any]:
    """A bare faust agent drains the pre-loaded input, stock and patched (one consumer group each)."""
    s = data.settings
    out: dict[str, Any] = {}
    for mode in ("stock", "patched"):
        result = run.out / f"faust-{mode}.json"
        result.unlink(missing_ok=True)
        env = {
            "BENCH_FAUST_MODE": mode,
            "BENCH_FAUST_TOPIC": build_topics(s).custom_events.name,
            "BENCH_FAUST_EVENTS": str(data.events),
            "BENCH_FAUST_APP": f"bench-faust-{mode}-{uuid.uuid4().hex[:6]}",
            "BENCH_FAUST_OUT": str(result),
            "LOYALTY_PROCESSOR_WEB_PORT": str(free_port()),
        }
        with Procs(s, run.logs / f"faust-{mode}") as procs:
            worker = procs.start("faust", [sys.executable, "-m", "bench.faust_bare"], **env)
            deadline = time.monotonic() + run.args.timeout
            while not result.exists() and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        if not result.exists():
            raise RuntimeError(f"bare faust ({mode}) did not drain the input; see {run.logs / f'faust-{mode}'}")
        measured = json.loads(result.read_text())
        out[mode] = {
            "events": measured["events"],
            "seconds": round(measured["seconds"], 2),
            "events_per_s": round(measured["events"] / measured["seconds"]),
        }
    out["events_per_s"] = out["patched"]["events_per_s"]
    return out
