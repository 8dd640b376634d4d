"""Operator commands: replay history into a fresh processor, tail the dead-letter topics, look things up."""

from __future__ import annotations

import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import TopicPartition

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.clock import UTC_ZONE
from loyalty_stream.domain.events import parse_event_date
from loyalty_stream.kafka.client import consumer, create_topics
from loyalty_stream.kafka.topics import build_topics


def _start_offsets(settings: Settings, topic: str, *, from_time: str | None, from_offset: str) -> list[TopicPartition]:
    c = consumer(settings, group=f"unused-{uuid.uuid4().hex[:8]}")
    try:
        partitions = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
        if from_time:
            moment = parse_event_date(from_time, UTC_ZONE)  # no offset: UTC
            wanted = [TopicPartition(topic, p, int(moment.timestamp() * 1000)) for p in partitions]
            found = c.offsets_for_times(wanted, timeout=10)
            return [
                TopicPartition(
                    topic, tp.partition, tp.offset if tp.offset >= 0 else c.get_watermark_offsets(tp, timeout=10)[1]
                )
                for tp in found
            ]
        if from_offset == "earliest":
            return [
                TopicPartition(topic, p, c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0])
                for p in partitions
            ]
        return [TopicPartition(topic, p, int(from_offset)) for p in partitions]
    finally:
        c.close()


def prepare_replay(
    settings: Settings, *, app_id: str | None, from_time: str | None, from_offset: str, emit: bool
) -> Settings:
    """Settings of a fresh processor app (own group, tables, repartition topic) positioned at the start."""
    replay = settings.model_copy(
        update={
            "processor_app_id": app_id or f"{settings.processor_app_id}-replay-{datetime.now(UTC):%Y%m%d%H%M%S}",
            "processor_emit_outputs": emit,
            "processor_claims": False,
        }
    )
    create_topics(replay)
    topic = build_topics(replay).custom_events.name
    offsets = _start_offsets(replay, topic, from_time=from_time, from_offset=from_offset)
    c = consumer(replay, group=replay.processor_app_id)
    try:
        c.commit(offsets=offsets, asynchronous=False)
    finally:
        c.close()
    return replay


def lag_bar(settings: Settings, stop: threading.Event) -> None:
    """A progress bar of the replay group's committed offsets against the input topic's end."""
    from tqdm import tqdm

    topic = build_topics(settings).custom_events.name
    c = consumer(settings, group=settings.processor_app_id)
    try:
        partitions = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        start = {tp.partition: tp.offset for tp in c.committed(partitions, timeout=10)}
        ends = {tp.partition: c.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
        total = sum(max(0, ends[p] - max(0, start[p])) for p in ends)
        with tqdm(total=total, unit="events", desc="replay", file=sys.stderr) as bar:
            while not stop.wait(1.0):
                done = sum(
                    max(0, min(tp.offset, ends[tp.partition]) - max(0, start[tp.partition]))
                    for tp in c.committed(partitions, timeout=10)
                    if tp.offset >= 0
                )
                bar.update(done - bar.n)
                if done >= total:
                    bar.set_postfix_str("caught up; Ctrl-C stops the replay worker")
    finally:
        c.close()


DLQS = {"events": "custom_events_dlq", "unmatched": "custom_events_unmatched", "webhooks": "webhooks_dlq"}


def tail(settings: Settings, which: str, *, from_beginning: bool, limit: int | None) -> None:
    """Print dead letters one line each: time, reason, error, key, record summary."""
    from schemas.serde import DecodeError, Serde

    topic = getattr(build_topics(settings), DLQS[which]).name
    serde = Serde(settings.schema_registry_url)
    c = consumer(
        settings,
        group=f"tail-{uuid.uuid4().hex[:8]}",
        **{"auto.offset.reset": "earliest" if from_beginning else "latest"},
    )
    c.subscribe([topic])
    seen = 0
    try:
        while limit is None or seen < limit:
            msg = c.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            headers = {k: v.decode(errors="replace") for k, v in msg.headers() or []}
            try:
                name, record = serde.decode(msg.value(), allow_json=True)
                summary = _summary(name, record)
            except DecodeError as exc:
                summary = f"<{exc.reason}>"
            stamp = datetime.fromtimestamp(msg.timestamp()[1] / 1000, UTC).isoformat(timespec="seconds")
            reason = headers.get("loyalty-reason") or headers.get("loyalty-status") or "-"
            print(
                f"{stamp} {reason} key={(msg.key() or b'').decode(errors='replace')} {summary} "
                f"{headers.get('loyalty-error', '')}".rstrip(),
                flush=True,
            )
            seen += 1
    finally:
        c.close()


def _summary(name: str, record: dict[str, Any]) -> str:
    fields = ("storeCode", "customEventId", "eventId", "type", "messageId", "eventName", "subscriptionId", "lastStatus")
    return name + " " + " ".join(f"{k}={record[k]}" for k in fields if record.get(k) is not None)


def inspect(settings: Settings, store: str, what: str, ident: str) -> Any:
    """A member's record and progress, or an event's outcome, through the API (with the store's key)."""
    import httpx

    keys = sorted(settings.store_map[store].api_keys) if store in settings.store_map else []
    key = keys[0] if keys else next(iter(sorted(settings.admin_key_set)), "")
    base = f"http://{settings.api_host}:{settings.api_port}/api/{store}"
    paths = {"member": [f"/member/{ident}", f"/member/{ident}/achievement"], "event": [f"/customEvent/{ident}"]}
    out = {}
    with httpx.Client(base_url=base, headers={"X-AUTH-TOKEN": key}, timeout=10) as client:
        for path in paths[what]:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
            out[path] = response.json()
    return out
