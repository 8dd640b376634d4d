"""The API's note of assignments written and not yet decided: it refuses a second one for a while, and forgets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ingest_api.routes import transactions
from ingest_api.routes.transactions import ASSIGN_PENDING_SECONDS, _mark_assigning


@pytest.fixture(autouse=True)
def empty() -> Iterator[dict[tuple[str, str], float]]:
    saved = dict(transactions._assigning)
    transactions._assigning.clear()
    yield transactions._assigning
    transactions._assigning.clear()
    transactions._assigning.update(saved)


def test_assignments_older_than_the_pending_window_are_forgotten(empty) -> None:
    for n in range(1000):
        _mark_assigning(("S", f"t{n}"), float(n))
    # one second per assignment: only the window's last ASSIGN_PENDING_SECONDS stay
    assert len(empty) == ASSIGN_PENDING_SECONDS
    assert min(empty.values()) == 1000 - ASSIGN_PENDING_SECONDS


def test_an_assignment_written_again_counts_from_its_new_time(empty) -> None:
    _mark_assigning(("S", "a"), 0.0)
    _mark_assigning(("S", "b"), 10.0)
    _mark_assigning(("S", "a"), 20.0)  # written again: it moves to the end, so the front stays the oldest
    _mark_assigning(("S", "c"), 10.0 + ASSIGN_PENDING_SECONDS)
    assert empty == {("S", "a"): 20.0, ("S", "c"): 10.0 + ASSIGN_PENDING_SECONDS}
