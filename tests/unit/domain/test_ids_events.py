import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from loyalty_stream.domain import (
    NAMESPACE,
    custom_event_id,
    message_id,
    parse_event_date,
    rule_id,
    source_event_id,
)

from .helpers import UTC_TZ, WARSAW


def test_ids_are_uuid5_over_the_documented_names() -> None:
    assert uuid.UUID("6f1c3a52-6d9b-4f7e-9a51-2f0c2f1f6a10") == NAMESPACE
    assert custom_event_id("S", "abc") == str(uuid.uuid5(NAMESPACE, "S/abc"))
    assert source_event_id("t", 3, 42) == str(uuid.uuid5(NAMESPACE, "t/3/42"))
    assert message_id("S", "t", "a", "c", 2) == str(uuid.uuid5(NAMESPACE, "S/t/a/c/2"))


def test_ids_separate_what_they_must() -> None:
    assert message_id("S", "t", "a", "c", 1) != message_id("S", "t", "a", "c", 2)
    assert rule_id("a", 1, 0) != rule_id("a", 2, 0) != rule_id("a", 1, 1)
    assert rule_id("a", 1, 0) == rule_id("a", 1, 0)


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        # with an offset or Z: that instant
        ("2024-05-01T10:00:00+02:00", WARSAW, datetime(2024, 5, 1, 8, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", WARSAW, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.250z", UTC_TZ, datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)),
        # no offset: store-local wall time (the getting-started example)
        ("2024-05-01T00:00:00", WARSAW, datetime(2024, 4, 30, 22, tzinfo=UTC)),
        ("2024-01-15T12:00:00", WARSAW, datetime(2024, 1, 15, 11, tzinfo=UTC)),
        ("2024-05-01", UTC_TZ, datetime(2024, 5, 1, tzinfo=UTC)),
        # spring forward, Warsaw 2024-03-31 02:00 → 03:00: 02:30 does not exist, moves forward
        ("2024-03-31T02:30:00", WARSAW, datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
        # fall back, 2024-10-27 03:00 → 02:00: 02:30 happens twice, the earlier one wins
        ("2024-10-27T02:30:00", WARSAW, datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),
    ],
)
def test_parse_event_date(text: str, tz: object, expected: datetime) -> None:
    parsed = parse_event_date(text, tz)  # type: ignore[arg-type]
    assert parsed.tzinfo is not None
    # compared in UTC: == between zones is always False for a time in the repeated hour (PEP 495)
    assert parsed.astimezone(UTC) == expected


def test_gap_time_reads_as_the_wall_time_after_the_gap() -> None:
    parsed = parse_event_date("2024-03-31T02:30:00", WARSAW)
    assert (parsed.hour, parsed.minute, parsed.utcoffset()) == (3, 30, timedelta(hours=2))


def test_keeps_the_given_offset() -> None:
    parsed = parse_event_date("2024-05-01T10:00:00-05:00", WARSAW)
    assert parsed.utcoffset() == timezone(timedelta(hours=-5)).utcoffset(None)


@pytest.mark.parametrize("text", ["", "yesterday", "2024-13-01T00:00:00", "2024-05-01T25:00", "1714557600"])
def test_unparseable_dates_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_event_date(text, UTC_TZ)


def test_non_string_raises_value_error() -> None:
    with pytest.raises(ValueError):
        parse_event_date(1714557600, UTC_TZ)  # type: ignore[arg-type]
