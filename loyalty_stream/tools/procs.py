"""Child processes that die with their parent, and waiting on conditions with deadlines."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM when the process that started it dies, even by kill -9,
    # so a killed `make run` never leaves a broker or service behind.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    log: Path | None = None,
    cwd: Path | None = None,
    tie_to_parent: bool = True,
) -> subprocess.Popen[bytes]:
    out: IO[Any] | None = None  # inherit our stdout unless a log file is given
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        out = log.open("ab")
    return subprocess.Popen(
        list(argv),
        env=env,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if tie_to_parent else None,
        start_new_session=not tie_to_parent,
    )


def stop(proc: subprocess.Popen[bytes], *, grace: float = 10.0) -> int | None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    return stop_all([proc], grace=grace)[0]


def stop_all(procs: Sequence[subprocess.Popen[bytes]], *, grace: float) -> list[int | None]:
    """SIGTERM to every process at once, then SIGKILL to those still running after ``grace`` seconds in all
    (one deadline for the lot, not one per process)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return [proc.returncode for proc in procs]


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``check`` until it is true; raise TimeoutError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def answers_ok(url: str, *, timeout: float = 0.3) -> bool:
    """Does a GET of ``url`` answer 200 (a service's /ready, /health)? False when it answers otherwise or not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
