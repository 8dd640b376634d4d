"""With the broker stopped the API answers 503 with Retry-After, never 200; it recovers when the broker is back."""

from __future__ import annotations

import httpx
import pytest

from loyalty_stream.kafka import create_topics
from loyalty_stream.localkafka import LocalBroker
from loyalty_stream.procs import free_port, wait_until
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, login_event, post
from tests.support.stack import Stack


@pytest.fixture
def own_broker(tmp_path, kafka):
    broker = LocalBroker(
        data_dir=tmp_path / "own-kafka", port=free_port(), controller_port=free_port(), cache_dir=kafka.cache_dir
    )
    broker.start()
    yield broker
    broker.stop()


def test_broker_down_gives_503_never_200(own_broker, make_settings, tmp_path) -> None:
    settings = make_settings(
        create=False,
        kafka_port=own_broker.port,
        kafka_bootstrap_servers=own_broker.bootstrap,
        kafka_controller_port=own_broker.controller_port,
        produce_timeout_seconds=3.0,
    )
    create_topics(settings)
    api = Stack(settings, tmp_path / "logs").start("api")
    try:
        with httpx.Client(base_url=api.api, timeout=30) as client:
            post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
            assert client.post("/api/DEFAULT/customEvent", json=login_event(), headers=AUTH).status_code == 200

            own_broker.stop()
            statuses = []
            for n in range(5):
                response = client.post("/api/DEFAULT/customEvent", json=login_event(event_id=f"down-{n}"), headers=AUTH)
                statuses.append(response.status_code)
                assert response.status_code == 503, response.text
                assert int(response.headers["Retry-After"]) > 0
                assert response.json()["code"] == 503
            assert 200 not in statuses

            own_broker.start()

            def accepted_again() -> bool:
                return (
                    client.post("/api/DEFAULT/customEvent", json=login_event(event_id="back"), headers=AUTH).status_code
                    == 200
                )

            wait_until(accepted_again, timeout=60, what="the API to accept events again", interval=0.5)
    finally:
        api.stop()
