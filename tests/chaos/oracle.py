"""The oracle: the pure domain core run in memory over the same events, in the order each member sent them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from loyalty_stream.domain import Achievement, Event, MemberRef, MemberState, process_event
from loyalty_stream.domain.events import TRANSACTION_TYPE, parse_event_date
from loyalty_stream.domain.ids import custom_event_id, transaction_id
from loyalty_stream.domain.transactions import transaction_problems

UTC_ZONE = ZoneInfo("UTC")


@dataclass
class Oracle:
    store: str
    achievements: list[Achievement]
    states: dict[str, MemberState] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)  # messageId -> data of expected webhooks
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # customEventId -> (status, reason)

    def _event(self, sent: dict[str, Any], now: datetime) -> Event:
        if "transaction" in sent:
            facts, moment, problems = transaction_problems(sent["transaction"], UTC_ZONE, now)
            assert facts is not None and moment is not None, problems
            return Event(
                transaction_id(self.store, facts["documentNumber"]), None, TRANSACTION_TYPE, moment, facts, now
            )
        return Event(
            custom_event_id(self.store, sent["eventId"]),
            sent["eventId"],
            sent["type"],
            parse_event_date(sent["eventDate"], UTC_ZONE),
            sent.get("body") or {},
            now,
        )

    def apply(self, customer_id: str, email: str, sent: dict[str, Any]) -> None:
        """One input as the member sent it; a transaction whose document this member sent before is the same
        transaction (the pipeline's dedup), so it changes nothing."""
        now = datetime.now(UTC)
        event = self._event(sent, now)
        if event.custom_event_id in self.outcomes:
            return
        state = self.states.get(customer_id, MemberState.empty())
        result = process_event(
            state,
            event,
            self.achievements,
            MemberRef(customer_id, email=email),
            store_code=self.store,
            tz=UTC_ZONE,
            now=now,
        )
        self.states[customer_id] = result.state
        self.outcomes[event.custom_event_id] = (result.outcome.status, result.outcome.reason)
        for output in result.outputs:
            if output.event_name == "MemberAchievementProgressWasChanged":
                self.expected[output.message_id] = output.data

    def progress(self, customer_id: str) -> dict[str, Any]:
        return self.states.get(customer_id, MemberState.empty()).to_dict()["p"]
