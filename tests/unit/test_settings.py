from __future__ import annotations

import pytest

from loyalty_stream.config.settings import Settings, parse_stores
from loyalty_stream.kafka.topics import build_topics


def test_defaults_match_the_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("LOYALTY_"):
            monkeypatch.delenv(name)
    settings = Settings()
    assert settings.api_port == 8000
    assert settings.kafka_port == 9092
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert str(settings.data_dir) == ".data"
    assert set(settings.store_map) == {"DEFAULT"}
    assert settings.store_map["DEFAULT"].api_keys == {"dev-key"}


def test_environment_with_one_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOYALTY_API_PORT", "8123")
    monkeypatch.setenv("LOYALTY_STORES", "A:ka,B:kb:Europe/Warsaw")
    settings = Settings()
    assert settings.api_port == 8123
    assert settings.store_map["B"].timezone == "Europe/Warsaw"
    # child processes get the same settings back
    assert Settings(**{}).child_env()["LOYALTY_API_PORT"] == "8123"


@pytest.mark.parametrize("spec", ["A", "A:", "bad code!:k", "A:k:Mars/Base"])
def test_bad_store_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_stores(spec)


def test_stores_file(tmp_path) -> None:
    path = tmp_path / "stores.yaml"
    path.write_text(
        "stores:\n  - code: S1\n    apiKeys: [k1, k2]\n    timezone: America/New_York\n"
        "    identifierOrder: [email, customerId]\n"
    )
    store = Settings(stores_file=path).store_map["S1"]
    assert store.api_keys == {"k1", "k2"}
    assert store.identifier_order == ("email", "customerId")


def test_security_settings_reach_every_client() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="u",
        kafka_sasl_password="hunter2-secret",
        kafka_ssl_ca_location="/ca.pem",
    )
    config = settings.kafka_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.password"] == "hunter2-secret"
    assert "hunter2-secret" not in repr(settings)  # secrets are not printed


def test_topic_table() -> None:
    topics = build_topics(Settings(topic_prefix="x.", topic_partitions=6))
    names = [t.name for t in topics.all()]
    assert len(names) == len(set(names))
    assert {t.partitions for t in topics.co_partitioned()} == {6}
    assert all(t.compact for t in topics.control_plane)
    assert topics.custom_events.name == "x.custom-events"
