"""Read models the API materialises from topics the processor writes (architecture.md: "compacted
read-model topics the API materialises"):

- ``<prefix>custom-event-outcomes`` (CustomEventOutcome, key ``storeCode:customEventId``) → GET /customEvent…
- the processor's progress-table changelog (key ``storeCode:customerId``, value JSON ``{"p": …, "a": …}``,
  tombstone = deleted; only the progress "p" is kept) → GET /member/{member}/achievement

One ``TopicMirror`` (a plain consumer thread, no group) reads both into RocksDB under
``<data_dir>/api-<api_port>/read-models`` (one directory per API process, so two on one machine never
share it). Memory stays bounded whatever the number of events and members: RocksDB's block cache
(``LOYALTY_API_READ_MODEL_CACHE_MB``) plus its write buffers (2 × 16 MiB); the rest lives on disk.

The directory is wiped at start and rebuilt from the topics: they are the truth, and a copy kept from an
earlier run could hold keys the broker has since compacted or expired away. Until the rebuild has caught
up with the topics' ends as they were at start, the read endpoints answer 503 with ``Retry-After``.

Outcomes are kept as long as the topic keeps them: a sweeper thread drops outcomes last decided more
than ``LOYALTY_CUSTOM_EVENTS_RETENTION_HOURS`` ago (the topic's retention; the broker deletes whole
segments, so the topic may keep some a little longer).
"""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Message
from rocksdict import BlockBasedOptions, Cache, Options, Rdict, WriteOptions

from ingest_api.errors import ApiError
from ingest_api.outcome_store import OutcomeStore
from loyalty_stream.config.settings import Settings, Store
from loyalty_stream.domain import MemberState, parse_event_date
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.keys import join_key
from loyalty_stream.kafka.mirror import TopicMirror, keyed_record
from loyalty_stream.kafka.topics import Topics
from schemas.serde import Serde

log = logging.getLogger(__name__)

SWEEP_SECONDS = 600.0
PROGRESS = b"p"  # key prefix of members' progress in the shared database


class ReadModelLoading(ApiError, status=503, message="Service Unavailable: the read model is still loading"):
    def __init__(self) -> None:
        super().__init__(retry_after=1)


def _options(cache_mb: int) -> Options:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    options.set_write_buffer_size(16 * 1024 * 1024)
    options.set_max_write_buffer_number(2)
    table = BlockBasedOptions()
    table.set_block_cache(Cache(cache_mb * 1024 * 1024))
    table.set_cache_index_and_filter_blocks(True)
    options.set_block_based_table_factory(table)
    return options


class ReadModels:
    """Event outcomes and members' progress, materialised by this API process."""

    def __init__(self, settings: Settings, serde: Serde, topics: Topics) -> None:
        self.path: Path = settings.data_dir / f"api-{settings.api_port}" / "read-models"
        self._settings = settings
        self._serde = serde
        self._outcomes_topic = topics.custom_event_outcomes.name
        self._progress_topic = topics.changelogs[0].name  # the progress table's changelog
        self._retention = timedelta(hours=settings.custom_events_retention_hours)
        self.mirror = TopicMirror(
            settings, [self._outcomes_topic, self._progress_topic], self._apply, name="read-models"
        )
        self._db: Rdict | None = None
        self._outcomes: OutcomeStore | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self.path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(self.path), _options(self._settings.api_read_model_cache_mb))
        no_wal = WriteOptions()
        no_wal.disable_wal = True  # rebuilt from the topics at every start: a log of our own buys nothing
        self._db.set_write_options(no_wal)
        self._outcomes = OutcomeStore(self._db)
        self.mirror.start()
        self._sweeper = threading.Thread(target=self._sweep_forever, name="read-model-sweeper", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        self.mirror.stop()
        if self._sweeper is not None:
            self._sweeper.join(5)
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def caught_up(self) -> bool:
        return self.mirror.caught_up

    def require_loaded(self) -> None:
        if not self.mirror.caught_up:
            raise ReadModelLoading()

    def _sweep_forever(self) -> None:
        while not self._stop.wait(SWEEP_SECONDS):
            self.sweep(datetime.now(UTC))

    def sweep(self, now: datetime) -> int:
        if self._outcomes is None:
            return 0
        try:
            gone = self._outcomes.sweep(iso_utc(now - self._retention))
        except Exception:  # the next round tries again
            log.exception("read models: sweep failed")
            return 0
        if gone:
            log.info("read models: %d outcomes older than the retention dropped", gone)
        return gone

    # -- feeding -------------------------------------------------------------------------------------------
    def _apply(self, msg: Message) -> None:
        topic, key, value = msg.topic(), msg.key(), msg.value()
        if self._db is None or self._outcomes is None or key is None:
            return
        if topic == self._progress_topic:
            if value is None:
                self._db.delete(PROGRESS + key)
            else:
                # The processor's state also holds its applied-event log; the API keeps only the progress.
                try:
                    progress = orjson.dumps({"p": orjson.loads(value).get("p", {})})
                except orjson.JSONDecodeError:
                    log.warning("read models: unreadable progress record ignored")
                    return
                self._db.put(PROGRESS + key, progress)
            return
        keyed = keyed_record(self._serde, key, value, "CustomEventOutcome")
        if keyed is not None:
            (store, custom_event_id), record = keyed
            self._outcomes.apply(store, custom_event_id, record)

    # -- queries -------------------------------------------------------------------------------------------
    @property
    def outcomes(self) -> OutcomeStore:
        if self._outcomes is None:
            raise ReadModelLoading()
        return self._outcomes

    def member_state(self, store: str, customer_id: str) -> MemberState:
        """A member's progress as the processor last wrote it (empty when it has none)."""
        raw = self._db.get(PROGRESS + join_key(store, customer_id)) if self._db is not None else None
        if raw is None:
            return MemberState.empty()
        try:
            return MemberState.from_dict(orjson.loads(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("read models: unreadable progress of %s/%s: %r", store, customer_id, exc)
            return MemberState.empty()


def event_view(record: dict[str, Any], store: Store, schema_name: str | None) -> dict[str, Any]:
    """A CustomEventOutcome as the contract's CustomEvent, plus ``outcome``, ``reason``, ``reasons`` and
    ``changedAchievements``. ``body`` is the object received (the contract's array of string maps is the
    one allowed deviation); ``eventDate`` is rendered in store time with its offset."""
    try:
        event_date: str | None = parse_event_date(record["eventDate"], store.tz).isoformat()
    except ValueError:
        event_date = None  # a dead-lettered record from Kafka may carry anything: left out, not echoed
    try:
        body = orjson.loads(record.get("body") or "{}")
    except orjson.JSONDecodeError:
        body = {}
    item: dict[str, Any] = {
        "customEventId": record["customEventId"],
        "type": record["type"],
        "customerData": {k: v for k, v in (record.get("customerData") or {}).items() if v is not None},
        "body": body if isinstance(body, dict) else {},
        "outcome": record["status"],
        "reason": record.get("reason"),
        "reasons": dict(record.get("reasons") or {}),
        "changedAchievements": list(record.get("changedAchievements") or []),
    }
    optional = {
        "customerId": record.get("customerId"),
        "eventName": schema_name,
        "createdAt": record.get("createdAt"),
        "eventId": record.get("eventId"),
        "eventDate": event_date,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item
