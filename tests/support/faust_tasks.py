"""A bare faust-streaming agent that counts the asyncio tasks created while it drains a topic, per record.

Run: python -m tests.support.faust_tasks worker  (env: PROBE_BROKER, PROBE_TOPIC, PROBE_RECORDS, PROBE_OUT,
PROBE_WEB_PORT; PROBE_WITHOUT_FAUST_COMPAT=1 runs plain faust). Writes {"records": n, "tasks": t} to PROBE_OUT
once PROBE_RECORDS records have been taken: faust_compat fix 5 (processors/faust_compat.py) makes the tasks
per record drop from faust's four or more to nearly none.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile

import faust

if not os.environ.get("PROBE_WITHOUT_FAUST_COMPAT"):
    import processors.faust_compat  # noqa: F401

RECORDS = int(os.environ["PROBE_RECORDS"])
app = faust.App(
    f"tasks-{os.getpid()}",
    broker=f"kafka://{os.environ['PROBE_BROKER']}",
    store="memory://",
    datadir=tempfile.mkdtemp(prefix="faust-tasks-"),
    web_port=int(os.environ["PROBE_WEB_PORT"]),
    web_host="127.0.0.1",
    topic_allow_declare=False,
    consumer_auto_offset_reset="earliest",
    stream_buffer_maxsize=65_536,  # as the processor: no pause of the fetch while the agent takes its batches
    key_serializer="raw",
    value_serializer="raw",
)
source = app.topic(os.environ["PROBE_TOPIC"], key_serializer="raw", value_serializer="raw")
seen = {"records": 0, "tasks": 0}


@app.agent(source)
async def drain(stream: faust.Stream) -> None:
    loop = asyncio.get_running_loop()
    default = loop.get_task_factory()

    def counting(loop: asyncio.AbstractEventLoop, coro: object, **kwargs: object) -> asyncio.Task[object]:
        seen["tasks"] += 1
        if default is not None:
            return default(loop, coro, **kwargs)  # type: ignore[arg-type]
        return asyncio.Task(coro, loop=loop, **kwargs)  # type: ignore[arg-type]

    async for events in stream.noack_take(500, 0.01):
        if not seen["records"]:
            loop.set_task_factory(counting)  # from the first batch on: start-up tasks are not the point
        seen["records"] += len(events)
        for event in events:
            await stream.ack(event)
        if seen["records"] >= RECORDS:
            with open(os.environ["PROBE_OUT"], "w") as out:
                out.write(json.dumps(seen))
            os._exit(0)


if __name__ == "__main__":
    sys.argv = ["faust-tasks", "worker", "--loglevel", "warn"]
    app.main()
