"""No Docker engine runs here: the compose file is checked by parsing it against the local run's settings."""

from __future__ import annotations

from pathlib import Path

import yaml

from loyalty_stream.config.settings import KAFKA_VERSION, Settings
from loyalty_stream.tools.localkafka import _server_properties

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def test_names_every_service() -> None:
    assert {"kafka", "topics", "ingest-api", "processor", "webhook-sender"} <= set(SERVICES)


def test_same_kafka_release_as_the_local_broker() -> None:
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert SERVICES["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_the_broker_is_configured_as_the_local_one() -> None:
    # Every broker property both set must agree, but the listeners (ports and host names differ by design).
    local = dict(
        line.split("=", 1) for line in _server_properties(9092, 9093, Path("/tmp/logs")).splitlines() if "=" in line
    )
    compose = {
        key.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for key, value in SERVICES["kafka"]["environment"].items()
    }
    shared = {key for key in local.keys() & compose.keys() if "listener" not in key and "voters" not in key}
    assert {"log.index.size.max.bytes", "auto.create.topics.enable", "node.id"} <= shared
    assert {key: compose[key] for key in shared} == {key: local[key] for key in shared}


def test_services_use_our_cli_and_settings() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    commands = {
        "topics": ["topics", "create"],
        "ingest-api": ["api"],
        "processor": ["processor"],
        "webhook-sender": ["sender"],
    }
    for name, command in commands.items():
        service = SERVICES[name]
        assert service["command"] == command
        env = service["environment"]
        assert env["LOYALTY_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
        for key in env:
            assert key.startswith("LOYALTY_") and key.removeprefix("LOYALTY_") in fields, key
        Settings(**{k.removeprefix("LOYALTY_").lower(): v for k, v in env.items() if "${" not in str(v)})


def test_api_port_and_scalable_processor() -> None:
    assert "8000:8000" in SERVICES["ingest-api"]["ports"]
    assert "ports" not in SERVICES["processor"] and "container_name" not in SERVICES["processor"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["loyalty-stream"]' in dockerfile
