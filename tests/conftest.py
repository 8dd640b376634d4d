"""Session fixtures: a real Kafka broker started for the tests that ask for it, fresh settings per test.

A missing broker is a failure, never a skip.
"""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import create_topics
from loyalty_stream.tools.localkafka import LocalBroker
from loyalty_stream.tools.procs import free_port
from tests.support.receiver import Receiver
from tests.support.stack import Stack
from tests.support.topics import close_all

TEST_STORES = "DEFAULT:dev-key,OTHER:other-key:Europe/Warsaw"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the session broker, through any fixture, is marked ``kafka``, so
    ``pytest -m "not kafka"`` is the quick pure subset (docs/layout.md)."""
    for item in items:
        if "kafka" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    port = free_port()
    broker = LocalBroker(
        data_dir=tmp_path_factory.mktemp("kafka"),
        port=port,
        controller_port=free_port(),
        cache_dir=Settings().kafka_cache_dir,
    )
    broker.start()
    yield broker
    close_all()
    broker.stop()


SettingsFactory = Callable[..., Settings]


def settings_for(kafka: LocalBroker, tmp_path: Path, create: bool = True, **overrides: Any) -> Settings:
    """Settings isolated per test: own topic prefix, consumer groups, ports and data dir."""
    tag = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "kafka_port": kafka.port,
        "kafka_controller_port": kafka.controller_port,
        "kafka_bootstrap_servers": kafka.bootstrap,
        "topic_prefix": f"t{tag}.",
        "topic_partitions": 3,
        "processor_app_id": f"proc-{tag}",
        "sender_group": f"sender-{tag}",
        "data_dir": tmp_path / f"data-{tag}",
        "api_port": free_port(),
        "processor_web_port": free_port(),
        "sender_port": free_port(),
        "stores": TEST_STORES,
        "log_format": "console",
        "webhook_allow_loopback": True,
        "produce_timeout_seconds": 5.0,
    }
    values.update(overrides)
    settings = Settings(**values)
    if create:
        create_topics(settings)
    return settings


@pytest.fixture
def make_settings(kafka: LocalBroker, tmp_path: Path) -> SettingsFactory:
    def factory(create: bool = True, **overrides: Any) -> Settings:
        return settings_for(kafka, tmp_path, create, **overrides)

    return factory


@pytest.fixture
def own_broker(tmp_path: Path, kafka: LocalBroker) -> Iterator[LocalBroker]:
    """A broker of the test's own, for tests that stop, pause or restart it (never the session's)."""
    broker = LocalBroker(
        data_dir=tmp_path / "own-kafka", port=free_port(), controller_port=free_port(), cache_dir=kafka.cache_dir
    )
    broker.start()
    yield broker
    broker.signal(signal.SIGCONT)  # never leave it paused
    broker.stop()


@pytest.fixture
def own_broker_settings(own_broker: LocalBroker, make_settings: SettingsFactory) -> SettingsFactory:
    """Settings on ``own_broker``, its topics created."""

    def factory(create: bool = True, **overrides: Any) -> Settings:
        settings = make_settings(
            create=False,
            kafka_port=own_broker.port,
            kafka_bootstrap_servers=own_broker.bootstrap,
            kafka_controller_port=own_broker.controller_port,
            **overrides,
        )
        if create:
            create_topics(settings)
        return settings

    return factory


@pytest.fixture
def lone_api(own_broker_settings: SettingsFactory, tmp_path: Path) -> Iterator[httpx.Client]:
    """A client of the API alone on the test's own broker (``own_broker``, which the test may stop), its
    produce timeout 3 s."""
    api = Stack(own_broker_settings(produce_timeout_seconds=3.0), tmp_path / "logs").start("api")
    try:
        with httpx.Client(base_url=api.api, timeout=30) as client:
            yield client
    finally:
        api.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def stack(make_settings: SettingsFactory, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def start(*names: str, settings: Settings | None = None) -> Stack:
        s = Stack(settings or make_settings(), tmp_path / f"logs-{len(stacks)}")
        stacks.append(s)
        return s.start(*names)

    yield start
    for s in stacks:
        s.stop()


def auth(key: str = "dev-key") -> dict[str, str]:
    return {"X-AUTH-TOKEN": key}
