"""Counting each event once across crashes: the verdict rules of processors/dedup.py, driven through a model of
the evaluate agent's batch (outputs first, then state and markers, then the commit) with crashes at any point."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty_stream.domain import Event, MemberState, process_event
from processors.dedup import marker_key, marker_value, member_prefix, read_marker, verdict
from tests.unit.domain.helpers import MEMBER, STORE, UTC_TZ, make, rule

ACHIEVEMENTS = [
    make(rule("a", goal=3), limit={"value": 2, "interval": {"type": "calendarWeeks", "value": 1}}),
    make(rule("a", period="day", consecutive=2, goal=2), rule("b", goal=2)),
    make(rule("b", period="last_day", value=3, limit={"value": 1, "interval": {"type": "calendarDays", "value": 1}})),
]
START = datetime(2024, 3, 4, tzinfo=UTC)


def test_verdicts() -> None:
    assert verdict((5, 0), None, None) == "apply"
    assert verdict((5, 0), (4, 9), None) == "apply"
    assert verdict((5, 0), (5, 0), None) == "redelivered"
    assert verdict((5, 1), (5, 2), (5, 1)) == "redelivered"
    assert verdict((7, 0), (5, 0), (6, 3)) == "duplicate"  # the same customEventId came before, from elsewhere
    assert verdict((7, 0), (5, 0), (7, 0)) == "apply"  # its own marker: the state write after it was lost


def test_markers_are_found_by_member_and_read_back() -> None:
    member = member_prefix(b"DEFAULT:c-1")
    key = marker_key(member, "e-1")
    assert key.startswith(member) and len(key) == 24
    assert marker_key(member_prefix(b"DEFAULT:c-2"), "e-1") != key  # per member: an id counts once per member
    assert read_marker(marker_value((12, 3), "e-1:with:colons")) == ((12, 3), "e-1:with:colons")


@dataclass
class Model:
    """The broker (changelog, outputs, committed offset) and one worker's batch loop, with crashes."""

    stream: list[Event]
    state: MemberState = field(default_factory=MemberState.empty)  # the progress changelog's value
    watermark: tuple[int, int] | None = None
    markers: dict[str, tuple[int, int]] = field(default_factory=dict)  # the applied changelog
    committed: int = 0
    sent: dict[str, list[Any]] = field(default_factory=dict)  # messageId -> data of every copy on the broker
    outcomes: dict[str, str] = field(default_factory=dict)

    def run_batch(self, size: int, crash: str | None, keep: list[bool]) -> None:
        """Process up to ``size`` events from the committed offset; ``crash``: None, "outputs" (during wave 1)
        or "changelog" (during wave 2); ``keep``: which records of the interrupted wave reach the broker."""
        start = self.committed
        state, watermark, markers = self.state, self.watermark, dict(self.markers)
        outputs: list[tuple[str, Any]] = []
        outcomes: list[tuple[str, str]] = []
        changed = False
        for offset in range(start, min(start + size, len(self.stream))):
            position, e = (offset, 0), self.stream[offset]
            found = markers.get(e.custom_event_id)
            decision = verdict(position, watermark, found)
            if decision == "redelivered" and found is None:
                markers[e.custom_event_id] = position
            if decision != "apply":
                continue
            at = START + timedelta(seconds=offset)  # the member-events record's time: the same on re-delivery
            result = process_event(state, e, ACHIEVEMENTS, MEMBER, store_code=STORE, tz=UTC_TZ, now=at)
            markers[e.custom_event_id] = position
            outputs += [(o.message_id, o.data) for o in result.outputs]
            outcomes.append((e.custom_event_id, result.outcome.status))
            if result.outputs:
                state, watermark, changed = result.state, position, True
        wave1 = [*outputs, *(("outcome", o) for o in outcomes)]
        for n, record in enumerate(wave1):
            if crash != "outputs" or keep[n % len(keep)]:
                if record[0] == "outcome":
                    self.outcomes[record[1][0]] = record[1][1]
                else:
                    self.sent.setdefault(record[0], []).append(record[1])
        if crash == "outputs":
            return
        writes: list[str] = ["state"] if changed else []
        writes += [cid for cid, p in markers.items() if self.markers.get(cid) != p]
        for n, what in enumerate(writes):
            if crash != "changelog" or keep[n % len(keep)]:
                if what == "state":
                    self.state, self.watermark = state, watermark
                else:
                    self.markers[what] = markers[what]
        if crash is None:
            self.committed = min(start + size, len(self.stream))


@st.composite
def streams(draw: st.DrawFn) -> list[Event]:
    days = draw(st.lists(st.integers(0, 9), min_size=1, max_size=25))
    events = [
        Event(f"e-{n}", f"e-{n}", draw(st.sampled_from(("a", "b"))), START + timedelta(days=d), {}, START)
        for n, d in enumerate(days)
    ]
    # client retries: the same customEventId again, later in the stream
    for _ in range(draw(st.integers(0, 4))):
        original = draw(st.sampled_from(events))
        events.insert(draw(st.integers(events.index(original) + 1, len(events))), original)
    return events


@settings(max_examples=150, deadline=None)
@given(
    stream=streams(),
    schedule=st.lists(
        st.tuples(
            st.integers(1, 6),
            st.sampled_from((None, None, "outputs", "changelog")),
            st.lists(st.booleans(), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_crashes_anywhere_count_each_event_once(stream: list[Event], schedule: list[Any]) -> None:
    clean = Model(stream)
    while clean.committed < len(stream):
        clean.run_batch(len(stream), None, [True])
    crashed = Model(stream)
    for size, crash, keep in schedule:
        crashed.run_batch(size, crash, keep)
    while crashed.committed < len(stream):  # the worker restarted for good
        crashed.run_batch(3, None, [True])

    assert crashed.state == clean.state  # nothing lost, nothing doubled
    assert set(crashed.sent) == set(clean.sent)  # every output, and no other
    for message_id, copies in crashed.sent.items():
        assert all(copy == clean.sent[message_id][0] for copy in copies), message_id  # re-sent the same
    assert crashed.outcomes == clean.outcomes
