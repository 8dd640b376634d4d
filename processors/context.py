"""What every agent of the processor shares: settings, topics, the control plane and member copies, the output
producer, and the records they all write (dead letters, outcomes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key
from loyalty_stream.kafka.topics import Topics
from loyalty_stream.replicas.catalog import AchievementCatalog
from loyalty_stream.replicas.controlplane import ControlPlane
from loyalty_stream.replicas.members import MemberDirectory
from processors import metrics
from processors.batch import Batch, OutputProducer
from processors.outputs import outcome_record
from schemas.serde import Serde

log = logging.getLogger(__name__)


@dataclass
class Counts:
    """Per-batch metric counts, added to the Prometheus counters once per batch (a labelled ``inc`` per
    record was a visible share of the hot path)."""

    records_in: Counter[tuple[str, str]] = field(default_factory=Counter)
    records_out: Counter[tuple[str, str]] = field(default_factory=Counter)
    outcomes: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def publish(self) -> None:
        for (topic, store), n in self.records_in.items():
            metrics.EVENTS_IN.labels(topic, store).inc(n)
        for (topic, store), n in self.records_out.items():
            metrics.EVENTS_OUT.labels(topic, store).inc(n)
        for (store, status, reason), n in self.outcomes.items():
            metrics.OUTCOMES.labels(store, status, reason).inc(n)


@dataclass
class Context:
    settings: Settings
    serde: Serde
    topics: Topics
    control: ControlPlane
    members: MemberDirectory
    catalog: AchievementCatalog
    producer: OutputProducer

    async def ready(self) -> None:
        """Agents start processing only once the control plane and members are loaded."""
        while not (self.control.mirror.caught_up and self.members.mirror.caught_up):
            await asyncio.sleep(0.05)

    def dead_letter(self, batch: Batch, msg: Any, reason: str, message: str, *, unmatched: bool = False) -> None:
        """The input record, as it was, on the dead-letter (or unmatched) topic with the reason in headers."""
        headers = {
            "loyalty-reason": reason.encode(),
            "loyalty-error": message[:1000].encode(),
            "loyalty-source-topic": msg.topic.encode(),
            "loyalty-source-partition": str(msg.partition).encode(),
            "loyalty-source-offset": str(msg.offset).encode(),
        }
        if not unmatched:
            metrics.DEAD_LETTERS.labels(reason).inc()
        log.info(
            "%s %s/%s@%s: %s",
            "unmatched" if unmatched else "dead-lettered",
            msg.topic,
            msg.partition,
            msg.offset,
            reason,
            extra={"reason": reason, "error": message[:200]},
        )
        topic = self.topics.custom_events_unmatched if unmatched else self.topics.custom_events_dlq
        batch.send(topic.name, msg.value, key=msg.key, headers=headers)

    def outcome(
        self,
        batch: Batch,
        counts: Counts,
        record: dict[str, Any],
        status: str,
        *,
        decided_at: str | None = None,
        **fields: Any,
    ) -> None:
        """What became of an event, on the outcomes topic (key storeCode:customEventId, the latest wins)."""
        store = record["storeCode"]
        counts.outcomes[(store, status, fields.get("reason") or "")] += 1
        value = outcome_record(record, status, decided_at=decided_at or iso_utc(), **fields)
        key = join_key(store, record["customEventId"])
        batch.send(
            self.topics.custom_event_outcomes.name,
            self.serde.encode_for(self.topics.custom_event_outcomes, value),
            key=key,
        )


def observe(agent: str, batch: Batch, events: int) -> None:
    seconds = time.monotonic() - batch.started
    metrics.PROCESSING.labels(agent).observe(seconds)
    metrics.BATCH_SIZE.labels(agent).observe(events)
