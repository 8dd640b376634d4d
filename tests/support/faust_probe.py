"""A minimal faust-streaming app with a RocksDB table, to prove faust works on our broker.

Run: python -m tests.support.faust_probe worker  (env: PROBE_BROKER, PROBE_PREFIX, PROBE_DATADIR, PROBE_WEB_PORT)
Each input record (key, id) increments the key's count; the agent sends "key:count:pid:id:partition:offset"
to the output topic. It runs with our faust workaround (processors.faust_compat) like the processor does.

Diagnostics (env): PROBE_WITHOUT_FAUST_COMPAT=1 runs plain faust; PROBE_DIAG=1 logs faust's and aiokafka's
view of each input partition every 2 s; PROBE_DEBUG_LOGGERS=aiokafka.consumer.fetcher,... turns those loggers
to DEBUG; DEVLOG=1 (mode) turns on faust's own developer log lines ("getmany called while flow not active",
"DROPPED MESSAGE ROFF").
"""

from __future__ import annotations

import logging
import os
import sys

import faust

if not os.environ.get("PROBE_WITHOUT_FAUST_COMPAT"):  # set it to see faust's own behaviour
    import processors.faust_compat  # noqa: F401  (fixes records skipped after a rebalance)

DIAG = bool(os.environ.get("PROBE_DIAG"))
prefix = os.environ.get("PROBE_PREFIX", "probe")
app = faust.App(
    f"{prefix}-app",
    broker=f"kafka://{os.environ.get('PROBE_BROKER', '127.0.0.1:9092')}",
    store="rocksdb://",
    datadir=os.environ.get("PROBE_DATADIR", "/tmp/probe"),
    topic_partitions=4,
    web_port=int(os.environ.get("PROBE_WEB_PORT", "0") or 6066),
    web_host="127.0.0.1",
    key_serializer="raw",
    value_serializer="raw",
    broker_session_timeout=10.0,
    broker_heartbeat_interval=2.0,
    consumer_auto_offset_reset="earliest",
)
source = app.topic(f"{prefix}-in", partitions=4)
output = app.topic(f"{prefix}-out", partitions=1)
counts = app.Table("counts", default=None, partitions=4, key_type=bytes, value_type=bytes)


if os.environ.get("PROBE_DEBUG_LOGGERS"):

    @app.task
    async def _debug_loggers() -> None:
        """PROBE_DEBUG_LOGGERS=aiokafka.consumer.fetcher,...: DEBUG for those loggers only."""
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [DEBUG] %(name)s: %(message)s"))
        for name in os.environ["PROBE_DEBUG_LOGGERS"].split(","):
            logger = logging.getLogger(name.strip())
            logger.setLevel(logging.DEBUG)
            logger.addHandler(handler)
            logger.propagate = False


if DIAG:

    @app.task
    async def _trace_perform_seek() -> None:
        """Log when faust seeks back to committed offsets, and faust's read offsets before and after."""
        consumer = app.consumer
        perform_seek = consumer.perform_seek

        def read_offsets() -> dict[int, int | None]:
            return {tp.partition: o for tp, o in consumer._read_offset.items() if tp.topic == source.get_topic_name()}

        async def traced() -> None:
            app.log.info("DIAG perform_seek start read=%s", read_offsets())
            try:
                await perform_seek()
            finally:
                app.log.info("DIAG perform_seek end read=%s", read_offsets())

        consumer.perform_seek = traced  # type: ignore[method-assign]

    @app.timer(2.0)
    async def _diag() -> None:
        """Dump faust's and aiokafka's view of each input partition (PROBE_DIAG=1; diagnostics only)."""
        consumer = app.consumer
        aio = consumer._thread._consumer  # type: ignore[attr-defined]
        fetcher = aio._fetcher
        subscription = fetcher._subscriptions.subscription
        assignment = subscription.assignment if subscription else None
        rows = []
        for tp in sorted(consumer.assignment()):
            if tp.topic != source.get_topic_name():
                continue
            state = assignment.state_value(tp) if assignment else None
            rows.append(
                f"{tp.partition}: active={tp in consumer._active_partitions} "
                f"paused={tp in consumer._paused_partitions} read={consumer._read_offset.get(tp)} "
                f"committed={consumer._committed_offset.get(tp)} state={state!r} "
                f"aio_paused={getattr(state, 'paused', None)} ts={getattr(state, 'timestamp', None)} "
                f"hw={getattr(state, 'highwater', None)} in_records={tp in fetcher._records}"
            )
        app.log.info(
            "DIAG gen=%s flow=%s rebalancing=%s in_flight=%s\n  %s",
            app.consumer_generation_id,
            consumer.flow_active,
            app.rebalancing,
            fetcher._in_flight,
            "\n  ".join(rows),
        )


@app.agent(source, concurrency=1)
async def count(stream):  # type: ignore[no-untyped-def]
    async for event in stream.events():
        key, message = event.key, event.message
        count = int(counts.get(key) or b"0") + 1
        counts[key] = str(count).encode()
        where = f"{message.partition}:{message.offset}"
        if DIAG:
            app.log.info("DIAG processing %s (id %s)", where, event.value.decode())
        await output.send(value=f"{key.decode()}:{count}:{os.getpid()}:{event.value.decode()}:{where}".encode())


if __name__ == "__main__":
    app.main()
