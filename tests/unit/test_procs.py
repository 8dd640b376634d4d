"""The runner's process helpers (loyalty_stream/tools/procs.py), with real child processes."""

from __future__ import annotations

import signal
import subprocess
import sys

from loyalty_stream.tools.procs import stop_all

STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
OBEDIENT = "import time; print('up', flush=True); time.sleep(60)"


def _start(code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    return proc


def test_stop_all_terms_every_process_and_kills_the_stubborn_at_one_deadline() -> None:
    procs = [_start(STUBBORN), _start(OBEDIENT), _start(STUBBORN)]
    assert stop_all(procs, grace=0.5) == [-signal.SIGKILL, -signal.SIGTERM, -signal.SIGKILL]
