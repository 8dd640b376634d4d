"""The one settings object, read from ``LOYALTY_*`` environment variables once per entry point.

Build it with ``Settings()`` at the entry point (CLI, test fixture) and pass it down; nothing else
reads the environment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

KAFKA_VERSION = "4.1.1"
"""The one Apache Kafka release we run locally and name in docker-compose.yml."""

DEFAULT_IDENTIFIER_ORDER = ("customerId", "loyaltyCardNumber", "email", "phone")
_STORE_CODE_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True, slots=True)
class Store:
    """A tenant: its code, API keys, timezone and member-identifier matching order."""

    code: str
    api_keys: frozenset[str]
    timezone: str = "UTC"
    identifier_order: tuple[str, ...] = DEFAULT_IDENTIFIER_ORDER

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def valid_store_code(code: str) -> bool:
    return 0 < len(code) <= 64 and set(code) <= _STORE_CODE_CHARS


def _store(code: str, keys: list[str], timezone: str, order: list[str] | None) -> Store:
    if not valid_store_code(code):
        raise ValueError(f"store code {code!r} must match [A-Za-z0-9_-]{{1,64}}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"store {code}: unknown timezone {timezone!r}") from exc
    identifier_order = tuple(order) if order else DEFAULT_IDENTIFIER_ORDER
    unknown = set(identifier_order) - set(DEFAULT_IDENTIFIER_ORDER)
    if unknown:
        raise ValueError(f"store {code}: unknown identifiers {sorted(unknown)}")
    return Store(code, frozenset(k for k in keys if k), timezone, identifier_order)


def parse_stores(spec: str) -> dict[str, Store]:
    """Parse ``code:apiKey[:timezone]`` entries separated by commas."""
    stores: dict[str, Store] = {}
    for entry in filter(None, (e.strip() for e in spec.split(","))):
        code, _, rest = entry.partition(":")
        key, _, timezone = rest.partition(":")
        if not key:
            raise ValueError(f"LOYALTY_STORES entry {entry!r} needs code:apiKey[:timezone]")
        previous = stores.get(code)
        keys = [key, *(previous.api_keys if previous else ())]
        stores[code] = _store(code, keys, timezone or "UTC", None)
    return stores


def load_stores_file(path: Path) -> dict[str, Store]:
    """A YAML or JSON file: ``{stores: [{code, apiKeys: [...], timezone?, identifierOrder?}]}``."""
    text = path.read_text()
    raw: Any = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    stores: dict[str, Store] = {}
    for item in (raw or {}).get("stores", []):
        keys = item.get("apiKeys") or ([item["apiKey"]] if item.get("apiKey") else [])
        store = _store(item["code"], keys, item.get("timezone", "UTC"), item.get("identifierOrder"))
        stores[store.code] = store
    return stores


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``500ms``, ``5s``, ``2m``, ``1h``, ``1d`` or plain seconds → seconds."""
    text = text.strip()
    for unit in sorted(_DURATION_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number, factor = text[: -len(unit)], _DURATION_UNITS[unit]
            break
    else:
        number, factor = text, 1.0
    try:
        seconds = float(number) * factor
    except ValueError:
        raise ValueError(f"{text!r} is not a duration like 5s, 2m or 1h") from None
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} is not a finite, non-negative duration")
    return seconds


def parse_durations(spec: str) -> tuple[float, ...]:
    """Comma-separated durations → seconds (an empty list means no retries)."""
    return tuple(parse_duration(part) for part in spec.split(",") if part.strip())


class Settings(BaseSettings):
    """Every setting of every service. Defaults run the whole stack on one machine."""

    model_config = SettingsConfigDict(env_prefix="LOYALTY_", frozen=True, extra="ignore")

    # Local stack
    data_dir: Path = Field(Path(".data"), description="Broker logs, processor state, run logs")
    api_host: str = Field("127.0.0.1", description="Ingest API bind address")
    api_port: int = Field(8000, description="Ingest API port")
    kafka_port: int = Field(9092, description="Local broker port (make run / tests)")
    kafka_controller_port: int = Field(0, description="Local KRaft controller port (0 = kafka_port + 1)")
    kafka_heap: str = Field("512m", description="Local broker JVM heap")
    kafka_cache_dir: Path = Field(Path.home() / ".cache" / "loyalty-stream", description="Where Kafka jars are cached")

    # Kafka clients
    kafka_bootstrap_servers: str = Field("", description="Brokers; empty = 127.0.0.1:kafka_port")
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
    kafka_sasl_mechanism: str = Field("", description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512")
    kafka_sasl_username: str = Field("", description="SASL user")
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="SASL password")
    kafka_ssl_ca_location: str = Field("", description="CA bundle (PEM) for TLS")
    kafka_ssl_certificate_location: str = Field("", description="Client certificate (PEM) for mTLS")
    kafka_ssl_key_location: str = Field("", description="Client key (PEM) for mTLS")
    topic_prefix: str = Field("loyalty.", description="Prefix of every topic name")
    topic_partitions: int = Field(12, description="Partitions of event topics (fixed once created)")
    topic_replication_factor: int = Field(1, description="Replication factor of created topics")
    custom_events_retention_hours: int = Field(168, description="Input topic retention")
    dedup_window_days: int = Field(
        30, ge=1, description="How long a repeated customEventId is recognised and counted once (days)"
    )
    schema_registry_url: str = Field("", description="Confluent-compatible registry; empty = single-object Avro")

    # Stores and auth
    stores: str = Field("DEFAULT:dev-key", description="code:apiKey[:timezone], comma-separated")
    stores_file: Path | None = Field(None, description="YAML/JSON with full per-store settings")
    admin_keys: str = Field("", description="Comma-separated keys valid for every store")

    # Services
    produce_timeout_seconds: float = Field(10.0, description="How long the API waits for a broker ack")
    api_batch_max_events: int = Field(1000, ge=1, description="Events per POST /customEvent/batch")
    api_batch_max_bytes: int = Field(5 * 1024 * 1024, ge=1024, description="Body bytes per batch (more: 413)")
    api_read_model_cache_mb: int = Field(64, ge=8, description="RocksDB block cache of the API's read models")
    api_max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Body bytes per request other than a batch (more: 413)"
    )
    api_rate_limit_per_second: float = Field(
        20000.0, ge=0, description="Requests per second per store, per API process (more: 429; 0 = no limit)"
    )
    api_rate_limit_burst: int = Field(
        40000, ge=1, description="Requests a store may make at once before the rate applies"
    )
    api_produce_queue_max_messages: int = Field(
        100000, ge=1, description="Records the API holds waiting for the broker's ack (more: 503 at once)"
    )
    api_produce_queue_max_kbytes: int = Field(
        65536, ge=1, description="KiB of records the API holds waiting for the broker's ack (more: 503 at once)"
    )
    processor_app_id: str = Field("loyalty-processor", description="Faust app id / consumer group")
    processor_web_port: int = Field(6066, description="Processor HTTP port (health, metrics, state views)")
    processor_standby_replicas: int = Field(
        0, ge=0, description="Standby table copies (0: faust 0.15 standbys can miss records; see docs/reliability.md)"
    )
    processor_store: str = Field("rocksdb://", description="faust table store: rocksdb:// or memory://")
    processor_batch_max_events: int = Field(
        2000, ge=1, description="Records a processor agent takes per batch (one state write per member per batch)"
    )
    processor_batch_seconds: float = Field(
        0.005, gt=0, description="How long a processor agent waits for a batch to fill before it processes it"
    )
    processor_fetch_max_wait_ms: int = Field(
        20,
        ge=1,
        le=1500,
        description="How long the broker may hold a processor fetch that finds no records (faust's 1,500 held "
        "busy partitions back: processors/faust_compat.py, fix 6)",
    )
    processor_emit_outputs: bool = Field(True, description="Send progress records and webhooks (replays: off)")
    processor_claims: bool = Field(True, description="Run the member-claims agent (replays: off)")
    parking_max_per_store: int = Field(10000, ge=1, description="Events of unknown members kept per store")
    parking_max_age_hours: float = Field(24.0, gt=0, description="How long an unknown member's event waits")
    parking_sweep_seconds: float = Field(60.0, gt=0, description="How often expired parked events are swept")
    member_command_timeout_seconds: float = Field(10.0, gt=0, description="How long the API waits for a claim")
    sender_port: int = Field(8002, description="Webhook sender HTTP port (health, metrics)")
    shutdown_grace_seconds: float = Field(
        6.0, gt=0, description="How long a stopping service lets work in flight finish; the rest is redone on restart"
    )
    sender_group: str = Field("loyalty-webhook-sender", description="Webhook sender consumer group")
    webhook_timeout_seconds: float = Field(10.0, description="Per-attempt webhook timeout")
    webhook_allow_loopback: bool = Field(False, description="Allow webhook URLs on loopback (make run: true)")
    webhook_allow_private: bool = Field(False, description="Allow webhook URLs on private/link-local nets")
    webhook_retry_schedule: str = Field(
        "5s,30s,2m,10m,30m,1h,2h,4h,8h",
        description="Delays before each webhook retry (s/m/h; attempts = entries + 1)",
    )
    webhook_retry_jitter: float = Field(0.2, ge=0.0, le=1.0, description="Each retry delay times a random 1 ± jitter")
    webhook_retry_after_max_seconds: float = Field(
        86400.0, description="Longest Retry-After honoured; a longer one dead-letters the message"
    )
    webhook_endpoint_concurrency: int = Field(8, ge=1, description="Webhook requests in flight per subscription")
    webhook_endpoint_backlog: int = Field(
        1000, ge=1, description="Deliveries a subscription holds (at least) before new ones go to the delay topics"
    )
    webhook_breaker_failures: int = Field(
        5, ge=1, description="Consecutive failures that open a subscription's circuit"
    )
    webhook_breaker_cooldown_seconds: float = Field(
        30.0, description="How long an open circuit skips requests before one probe"
    )
    webhook_max_in_flight: int = Field(
        20000, ge=1, description="Webhook messages consumed but not yet committed before the sender pauses"
    )
    webhook_secret_grace_hours: float = Field(24.0, description="After a secret rotation the old secret also signs")
    webhook_attempt_log_size: int = Field(100, ge=1, description="Delivery attempts the API keeps per subscription")
    log_level: str = Field("INFO", description="Log level")
    log_format: str = Field("json", description="json or console")
    event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="Event loop of every service: uvloop, or asyncio's own"
    )

    @field_validator("stores")
    @classmethod
    def _check_stores(cls, value: str) -> str:
        parse_stores(value)
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _check_retry_schedule(cls, value: str) -> str:
        parse_durations(value)
        return value

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def controller_port(self) -> int:
        return self.kafka_controller_port or self.kafka_port + 1

    @cached_property
    def store_map(self) -> dict[str, Store]:
        stores = parse_stores(self.stores)
        if self.stores_file:
            stores.update(load_stores_file(self.stores_file))
        return stores

    @cached_property
    def admin_key_set(self) -> frozenset[str]:
        return frozenset(k.strip() for k in self.admin_keys.split(",") if k.strip())

    def kafka_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) connection settings, security included."""
        config = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.kafka_security_protocol}
        optional = {
            "sasl.mechanism": self.kafka_sasl_mechanism,
            "sasl.username": self.kafka_sasl_username,
            "sasl.password": self.kafka_sasl_password.get_secret_value(),
            "ssl.ca.location": self.kafka_ssl_ca_location,
            "ssl.certificate.location": self.kafka_ssl_certificate_location,
            "ssl.key.location": self.kafka_ssl_key_location,
        }
        config.update({k: v for k, v in optional.items() if v})
        return config

    def faust_broker_kwargs(self) -> dict[str, Any]:
        """Faust/aiokafka connection settings, security included."""
        kwargs: dict[str, Any] = {
            "broker": ";".join(f"kafka://{h}" for h in self.bootstrap_servers.split(",")),
        }
        protocol = self.kafka_security_protocol.upper()
        if protocol == "PLAINTEXT":
            return kwargs
        import ssl

        import faust

        context = None
        if "SSL" in protocol:
            context = ssl.create_default_context(cafile=self.kafka_ssl_ca_location or None)
            if self.kafka_ssl_certificate_location:
                context.load_cert_chain(self.kafka_ssl_certificate_location, self.kafka_ssl_key_location or None)
        if "SASL" in protocol:
            kwargs["broker_credentials"] = faust.SASLCredentials(
                username=self.kafka_sasl_username,
                password=self.kafka_sasl_password.get_secret_value(),
                mechanism=self.kafka_sasl_mechanism or "PLAIN",
                ssl_context=context,
            )
        elif context is not None:
            kwargs["broker_credentials"] = faust.SSLCredentials(context)
        return kwargs

    def child_env(self) -> dict[str, str]:
        """These settings as ``LOYALTY_*`` variables, for the processes ``run`` starts."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"LOYALTY_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return env
