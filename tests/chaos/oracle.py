"""The oracle: the pure domain core run in memory over the same events, in the order each member sent them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from loyalty_stream.domain import Achievement, Event, MemberRef, MemberState, process_event
from loyalty_stream.domain.events import parse_event_date
from loyalty_stream.domain.ids import custom_event_id

UTC_ZONE = ZoneInfo("UTC")


@dataclass
class Oracle:
    store: str
    achievements: list[Achievement]
    states: dict[str, MemberState] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)  # messageId -> data of expected webhooks
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # customEventId -> (status, reason)

    def apply(self, customer_id: str, email: str, event: dict[str, Any]) -> None:
        state = self.states.get(customer_id, MemberState.empty())
        now = datetime.now(UTC)
        result = process_event(
            state,
            Event(
                custom_event_id(self.store, event["eventId"]),
                event["eventId"],
                event["type"],
                parse_event_date(event["eventDate"], UTC_ZONE),
                event.get("body") or {},
                now,
            ),
            self.achievements,
            MemberRef(customer_id, email=email),
            store_code=self.store,
            tz=UTC_ZONE,
            now=now,
        )
        self.states[customer_id] = result.state
        self.outcomes[custom_event_id(self.store, event["eventId"])] = (result.outcome.status, result.outcome.reason)
        for output in result.outputs:
            if output.event_name == "MemberAchievementProgressWasChanged":
                self.expected[output.message_id] = output.data

    def progress(self, customer_id: str) -> dict[str, Any]:
        return self.states.get(customer_id, MemberState.empty()).to_dict()["p"]
