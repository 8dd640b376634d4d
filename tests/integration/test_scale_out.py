"""Two processor workers and two senders against one broker give the same results as one (the oracle's)."""

from __future__ import annotations

import pytest

from tests.chaos.campaign import HEADER, Campaign, Config

# the campaign starts its own broker and the whole stack
pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_two_processors_two_senders_match_the_oracle(tmp_path) -> None:
    report = Campaign(Config(11, members=30, events=8, faults=0, processors=2, senders=2, workdir=tmp_path)).run()
    print(f"\n{HEADER}\n{report.row()}\n" + "\n".join(report.notes))
    assert report.ok, report.notes
    logs = tmp_path / "logs"
    for worker in ("processor0", "processor1"):
        assert "Worker ready" in (logs / f"{worker}.log").read_text(errors="replace")
    assert (logs / "sender1.log").exists() and "sender ready" in (logs / "sender1.log").read_text(errors="replace")
