"""Deleting a member erases its personal data from the processor's state and from the outputs that follow."""

from __future__ import annotations

import uuid

import httpx

from loyalty_stream.tools.procs import wait_until
from tests.integration.test_intake import ORDER_SCHEMA, counting, order
from tests.support.flows import AUTH, post
from tests.support.topics import TopicReader, latest_outcomes


def test_delete_member_erases_state_and_outcomes(stack) -> None:
    s = stack("api", "processor")
    settings = s.settings
    address = f"del-{uuid.uuid4().hex[:8]}@example.com"
    outcomes = TopicReader(settings, settings.topic_prefix + "custom-event-outcomes")
    state = TopicReader(settings, f"{settings.processor_app_id}-progress-changelog")
    with httpx.Client(base_url=s.api, timeout=30) as client:
        post(client, "/api/DEFAULT/customEvent/schema", ORDER_SCHEMA, expect=204)
        post(client, "/api/DEFAULT/achievement", counting("order"))
        customer_id = post(client, "/api/DEFAULT/member", {"customer": {"email": address}})["customerId"]
        counted = [
            post(client, "/api/DEFAULT/customEvent", order({"email": address}))["customEventId"] for _ in range(2)
        ]
        outcomes.wait_for(
            lambda _r: all(latest_outcomes(outcomes).get(i, {}).get("status") == "counted" for i in counted),
            what="both events counted",
        )

        assert client.delete(f"/api/DEFAULT/member/{customer_id}", headers=AUTH).status_code == 204
        key = f"DEFAULT:{customer_id}".encode()
        state.wait_for(lambda rs: any(r.key == key and r.value is None for r in rs), what="the state tombstone")

        def outcomes_gone() -> bool:
            reads = outcomes.poll()
            last = {r.key: r.value for r in reads}
            return all(last.get(f"DEFAULT:{i}".encode(), b"") is None for i in counted)

        wait_until(outcomes_gone, timeout=60, what="the member's outcomes to be tombstoned")
        wait_until(
            lambda: client.get(f"/api/DEFAULT/member/{customer_id}", headers=AUTH).status_code == 404,
            timeout=30,
            what="the member to be gone from the API",
        )
        # a later event for the same email waits for a member (nobody holds it now)
        later = post(client, "/api/DEFAULT/customEvent", order({"email": address}))["customEventId"]
        outcomes.wait_for(
            lambda _r: latest_outcomes(outcomes).get(later, {}).get("status") == "parked", what="the later event parked"
        )
    progress = TopicReader(settings, settings.topic_prefix + "achievement-progress")
    reads = progress.wait_for(lambda rs: len(rs) >= 2, what="the progress records from before the deletion")
    assert all(r.record["triggerId"] in counted for r in reads if r.record)
