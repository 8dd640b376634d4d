"""The real services as child processes, for end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import admin
from loyalty_stream.kafka.health import group_is_active
from loyalty_stream.tools.procs import spawn, stop, wait_until

MODULES = {"api": "ingest_api", "processor": "processors", "sender": "webhook_sender"}


@dataclass
class Stack:
    settings: Settings
    logs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.settings.child_env(), "PYTHONUNBUFFERED": "1"}

    def start(self, *names: str) -> Stack:
        for name in names or tuple(MODULES):
            self.procs[name] = spawn(
                [sys.executable, "-m", MODULES[name]], env=self.env(), log=self.logs / f"{name}.log"
            )
        for name in names or tuple(MODULES):
            self.wait_ready(name)
        return self

    def wait_ready(self, name: str, timeout: float = 90.0) -> None:
        proc = self.procs[name]

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: {self.tail(name)}")
            if name == "api":
                try:
                    return httpx.get(f"{self.api}/health", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False
            group = self.settings.processor_app_id if name == "processor" else self.settings.sender_group
            return group_is_active(admin(self.settings), group) and self._log_says_ready(name)

        wait_until(ready, timeout=timeout, what=f"{name} to be ready", interval=0.2)

    def _log_says_ready(self, name: str) -> bool:
        text = self.tail(name, 200000)
        return "Worker ready" in text if name == "processor" else "sender ready" in text

    def tail(self, name: str, size: int = 4000) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def kill(self, name: str) -> None:
        self.procs[name].kill()
        self.procs[name].wait()

    def stop(self, name: str | None = None) -> None:
        for key in [name] if name else list(self.procs):
            stop(self.procs[key], grace=20)
