"""The README's getting-started walkthrough, run as written (bash and curl) against a real stack: a newcomer who
copies it gets a webhook and then John's progress from the CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## Getting started", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```sh\n(.*?)```", SECTION, re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl")
def test_walkthrough_as_written(stack, receiver) -> None:
    s = stack()
    steps = next(b for b in BLOCKS if "customEvent" in b)
    script = steps.replace("http://127.0.0.1:8000", s.api).replace("http://127.0.0.1:9999/webhooks", receiver.url())
    assert script != steps and receiver.url() in script  # the README still has the addresses we replace
    done = subprocess.run(["bash", "-e", "-c", script], capture_output=True, text=True, timeout=120, env=s.env())
    assert done.returncode == 0, done.stderr
    answers = [line for line in done.stdout.splitlines() if line.strip()]
    expected = ["achievementId", "customerId", "webhookSubscriptionId", "customEventId"]
    expected += ["achievementId", "transactionId"]
    assert [a.split(":", 1)[0] for a in answers] == [f'{{"{name}"' for name in expected]
    hooks = receiver.wait_for(lambda r: len(r) >= 2)
    by_trigger = {h.json()["data"]["trigger"]["type"]: h for h in hooks}
    login = by_trigger["custom_event"].json()
    assert login["eventName"] == "MemberAchievementProgressWasChanged"
    assert {k.lower(): v for k, v in by_trigger["custom_event"].headers.items()}.get("x-api-key") == "my-secret"
    rule = login["data"]["achievement"]["memberProgress"]["rules"][0]
    assert (rule["currentPeriodValue"], rule["completedConsecutivePeriods"]) == (1, 1)
    purchase = by_trigger["transaction"].json()["data"]["achievement"]["memberProgress"]
    assert purchase["completedCount"] == 1

    progress = next(b for b in BLOCKS if "inspect member" in b)
    cli = progress.splitlines()[0].replace(
        ".venv/bin/loyalty-stream", str(Path(sys.executable).parent / "loyalty-stream")
    )
    shown = subprocess.run(["bash", "-c", cli], capture_output=True, text=True, timeout=60, env=s.env())
    assert shown.returncode == 0, shown.stderr
    assert '"completedConsecutivePeriods": 1' in shown.stdout
