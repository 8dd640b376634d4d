"""One short seed of the crash campaign (tests/chaos): kill -9s, a two-worker rebalance, sender kills, a broker
restart, SIGTERM — and afterwards every member's progress equals the oracle's, every expected webhook arrived,
duplicates carry the same messageId and data, and every event the API accepted is on the input topic.

The 10-seed campaign: ``python -m tests.chaos`` (docs/reliability.md)."""

from __future__ import annotations

import os

import pytest

from tests.chaos.campaign import HEADER, Campaign, Config

# the campaign starts its own broker and the whole stack
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_short_crash_campaign(tmp_path) -> None:
    seed = int(os.environ.get("LOYALTY_CHAOS_SEED", "7"))
    report = Campaign(Config(seed, members=30, events=10, faults=4, workdir=tmp_path)).run()
    print(f"\nchaos seed {seed}\n{HEADER}\n{report.row()}\n" + "\n".join(report.notes))
    assert report.accepted == report.sent
    assert report.mismatched == 0, report.notes
    assert report.missing_webhooks == 0, report.notes
    assert report.unexpected_webhooks == 0
    assert report.inconsistent_duplicates == 0
    assert report.accepted_not_in_topic == 0
