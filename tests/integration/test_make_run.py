"""``make run`` (= ``loyalty-stream run``) as a newcomer runs it: its own broker, the three services, and a
SIGTERM that stops everything without losing an event the API acknowledged just before it."""

from __future__ import annotations

import copy
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from loyalty_stream.config.settings import Settings
from loyalty_stream.tools.procs import free_port, pid_alive, spawn, wait_until
from tests.support.flows import LOGIN_STREAK, getting_started, login_event, post
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _env(data_dir: Path, api_port: int) -> dict[str, str]:
    kafka_port = free_port()
    return {
        **os.environ,
        "LOYALTY_DATA_DIR": str(data_dir),
        "LOYALTY_KAFKA_PORT": str(kafka_port),
        "LOYALTY_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LOYALTY_KAFKA_CACHE_DIR": str(Settings().kafka_cache_dir),
        "LOYALTY_API_PORT": str(api_port),
        "LOYALTY_PROCESSOR_WEB_PORT": str(free_port()),
        "LOYALTY_SENDER_PORT": str(free_port()),
        "LOYALTY_LOG_FORMAT": "console",
    }


class Run:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = spawn([sys.executable, "-m", "loyalty_stream.tools.cli", "run"], env=env, log=log)
        wait_until(lambda: self._said("loyalty-stream: ready"), timeout=240, what=f"make run ready ({log})")

    def _said(self, line: str) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"run exited with {self.proc.returncode}; see {self.log}")
        return line in self.log.read_text(errors="replace")

    def children(self) -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    status = (entry / "status").read_text()
                except OSError:
                    continue
                if f"\nPPid:\t{self.proc.pid}\n" in status:
                    found.append(int(entry.name))
        return found

    def terminate(self) -> None:
        children = self.children()
        assert len(children) == 4, children  # broker, API, processor, sender
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(60) == 0
        assert "loyalty-stream: stopped" in self.log.read_text(errors="replace")
        assert [pid for pid in children if pid_alive(pid)] == []


def _counting_achievement() -> dict[str, object]:
    # Every login counts (no limits), so each event changes progress and sends a webhook.
    body = copy.deepcopy(LOGIN_STREAK)
    achievement = body["achievement"]
    achievement.pop("limit")
    rule = achievement["rules"][0]
    rule.pop("limit")
    rule["completeRule"] = {"period": {"type": "overall"}, "periodGoal": 100}
    return body


def test_make_run_stops_on_sigterm_and_keeps_what_it_acknowledged(tmp_path: Path) -> None:
    receiver = Receiver().start()
    api_port = free_port()
    env = _env(tmp_path / "data", api_port)
    run = Run(env, tmp_path / "run-1.log")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as client:
            getting_started(client, receiver.url())
            post(client, "/api/DEFAULT/achievement", _counting_achievement())
            day = datetime.now(UTC) - timedelta(days=3)
            first = post(client, "/api/DEFAULT/customEvent", login_event(when=day, event_id="before"))
            receiver.wait_for(lambda r: _triggered(r, first["customEventId"]), timeout=60)
            # Acknowledged, then the stop at once: the event must still count after the restart.
            last = post(client, "/api/DEFAULT/customEvent", login_event(when=day + timedelta(days=1), event_id="last"))
        run.terminate()

        run = Run(env, tmp_path / "run-2.log")
        receiver.wait_for(lambda r: _triggered(r, last["customEventId"]), timeout=120)
        run.terminate()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        receiver.stop()


def _triggered(received: list[object], custom_event_id: str) -> bool:
    return any(r.json()["data"]["trigger"]["triggerId"] == custom_event_id for r in received)  # type: ignore[attr-defined]
