"""``python -m bench.faust_bare``: a bare faust-streaming agent draining a topic, no work per event: faust's own
ceiling on this machine, read against the processor's figure (bench.ceilings, the ``faust`` phase).

    BENCH_FAUST_MODE=stock    faust-streaming as it comes (its default stream buffer and poll size)
    BENCH_FAUST_MODE=patched  with processors/faust_compat.py and the processor's stream settings

Settings come from the environment (``LOYALTY_*`` for the broker, ``BENCH_FAUST_*`` for the run); it writes
``{"events": n, "seconds": s}`` to ``BENCH_FAUST_OUT`` when ``BENCH_FAUST_EVENTS`` records have been taken, then
exits (faust turns the worker's stdout into log records).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import faust

from loyalty_stream.config.settings import Settings

MODE = os.environ.get("BENCH_FAUST_MODE", "stock")
if MODE == "patched":
    from loyalty_stream.config.collector import tune_collector
    from processors import faust_compat  # noqa: F401  (the patches, as the processor runs them)
    from processors.app import MAX_POLL_RECORDS, STREAM_BUFFER

settings = Settings()
TOPIC = os.environ["BENCH_FAUST_TOPIC"]
EVENTS = int(os.environ["BENCH_FAUST_EVENTS"])
tuning = {}
if MODE == "patched":
    tuning = {"broker_max_poll_records": MAX_POLL_RECORDS, "stream_buffer_maxsize": STREAM_BUFFER}
app = faust.App(
    os.environ.get("BENCH_FAUST_APP", f"bench-faust-{MODE}-{os.getpid()}"),
    **settings.faust_broker_kwargs(),
    store="memory://",
    datadir=tempfile.mkdtemp(prefix="bench-faust-"),
    topic_allow_declare=False,
    consumer_auto_offset_reset="earliest",
    web_port=settings.processor_web_port,
    web_host="127.0.0.1",
    autodiscover=False,
    key_serializer="raw",
    value_serializer="raw",
    **tuning,
)
source = app.topic(TOPIC, key_serializer="raw", value_serializer="raw", partitions=settings.topic_partitions)
seen = {"n": 0, "first": 0.0}


@app.agent(source)
async def drain(stream: faust.Stream) -> None:
    async for events in stream.take_events(settings.processor_batch_max_events, settings.processor_batch_seconds):
        if not seen["first"]:
            seen["first"] = time.monotonic()
        seen["n"] += len(events)
        if seen["n"] >= EVENTS:
            result = {"events": seen["n"], "seconds": time.monotonic() - seen["first"]}
            with open(os.environ["BENCH_FAUST_OUT"], "w") as out:
                out.write(json.dumps(result))
            os._exit(0)


@app.task
async def _tune() -> None:
    if MODE == "patched":
        tune_collector()  # as the processor does once it has started


if __name__ == "__main__":
    sys.argv = ["bench-faust", "worker", "--loglevel", "warn"]
    app.main()
