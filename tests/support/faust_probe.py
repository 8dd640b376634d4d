"""A minimal faust-streaming app with a RocksDB table, to prove faust works on our broker.

Run: python -m tests.support.faust_probe worker  (env: PROBE_BROKER, PROBE_PREFIX, PROBE_DATADIR, PROBE_WEB_PORT)
Each input record (key, id) increments the key's count; the agent sends "key:count:pid:id" to the output topic.
"""

from __future__ import annotations

import os

import faust

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


@app.agent(source, concurrency=1)
async def count(stream):  # type: ignore[no-untyped-def]
    async for key, value in stream.items():
        count = int(counts.get(key) or b"0") + 1
        counts[key] = str(count).encode()
        await output.send(value=f"{key.decode()}:{count}:{os.getpid()}:{value.decode()}".encode())


if __name__ == "__main__":
    app.main()
