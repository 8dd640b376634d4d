"""`loyalty-stream replay` rebuilds the same progress in a fresh processor app, without re-sending outputs."""

from __future__ import annotations

import sys
import uuid

import httpx
import orjson
from confluent_kafka import TopicPartition

from loyalty_stream.kafka.client import consumer
from loyalty_stream.tools.procs import spawn, stop, wait_until
from tests.integration.test_intake import ORDER_SCHEMA, counting, order
from tests.support.flows import post
from tests.support.topics import TopicReader


def _changelog_value(reader: TopicReader, key: bytes) -> dict | None:
    values = [r.value for r in reader.poll() if r.key == key]
    # the progress part: the applied-event log carries each run's own processing times
    return orjson.loads(values[-1])["p"] if values and values[-1] else None


def _committed_to_end(settings, group: str, topic: str) -> bool:
    c = consumer(settings, group=group)
    try:
        parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        committed = {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
        return all(max(committed[tp.partition], 0) >= c.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
    finally:
        c.close()


def test_replay_rebuilds_progress_silently(stack, tmp_path) -> None:
    s = stack("api", "processor")
    settings = s.settings
    address = f"r-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=s.api, timeout=30) as client:
        post(client, "/api/DEFAULT/customEvent/schema", ORDER_SCHEMA, expect=204)
        post(client, "/api/DEFAULT/achievement", counting("order"))
        customer_id = post(client, "/api/DEFAULT/member", {"customer": {"email": address}})["customerId"]
        for n in range(3):
            post(client, "/api/DEFAULT/customEvent", order({"email": address}, event_id=f"o{n}"))
    key = f"DEFAULT:{customer_id}".encode()
    live = TopicReader(settings, f"{settings.processor_app_id}-progress-changelog")
    progress = TopicReader(settings, settings.topic_prefix + "achievement-progress")
    progress.wait_for(lambda rs: len([r for r in rs if r.record and r.record["customerId"] == customer_id]) == 3)

    app_id = f"replay-{uuid.uuid4().hex[:6]}"
    replay = spawn(
        [sys.executable, "-m", "loyalty_stream.tools.cli", "replay", "--from-offset", "earliest", "--app-id", app_id],
        env=s.env(),
        log=tmp_path / "replay.log",
    )
    try:
        rebuilt = TopicReader(settings, f"{app_id}-progress-changelog")
        wait_until(
            lambda: (
                _changelog_value(live, key) is not None
                and _changelog_value(rebuilt, key) == _changelog_value(live, key)
            ),
            timeout=90,
            what="the replay's progress to equal the live one",
        )
        wait_until(
            lambda: _committed_to_end(settings, app_id, f"{app_id}-member-events"),
            timeout=60,
            what="the replay to commit everything",
        )
    finally:
        stop(replay)
    mine = [r for r in progress.poll() if r.record and r.record["customerId"] == customer_id]
    assert len(mine) == 3  # no webhook or progress record was sent again
    for reader in (live, rebuilt, progress):
        reader.close()
