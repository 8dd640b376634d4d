"""With the broker stopped the API answers 503 with Retry-After, never 200; it recovers when the broker is back."""

from __future__ import annotations

from loyalty_stream.tools.procs import wait_until
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, login_event, post


def test_broker_down_gives_503_never_200(own_broker, lone_api) -> None:
    client = lone_api
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
            client.post("/api/DEFAULT/customEvent", json=login_event(event_id="back"), headers=AUTH).status_code == 200
        )

    wait_until(accepted_again, timeout=60, what="the API to accept events again", interval=0.5)
