"""``loyalty-stream run``: the whole pipeline on one machine, in the foreground.

Starts the local broker (data in ``LOYALTY_DATA_DIR``), creates the topics, then runs the ingest API,
the processor and the webhook sender as child processes. Ctrl-C or SIGTERM stops all of them, broker
last. A service that dies is restarted (it resumes from its committed offsets).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import create_topics
from loyalty_stream.tools.localkafka import LocalBroker
from loyalty_stream.tools.procs import answers_ok, spawn, stop_all

log = logging.getLogger("loyalty_stream.run")

BROKER_GRACE = 5.0  # a single broker's controlled shutdown takes 1-2 s here
SERVICES = {"ingest-api": "ingest_api", "processor": "processors", "webhook-sender": "webhook_sender"}


@dataclass
class Service:
    name: str
    module: str
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)


def _local_env(settings: Settings) -> dict[str, str]:
    env = {**os.environ, **settings.child_env()}
    if "LOYALTY_WEBHOOK_ALLOW_LOOPBACK" not in os.environ:
        env["LOYALTY_WEBHOOK_ALLOW_LOOPBACK"] = "true"  # local mode: receivers on 127.0.0.1 are fine
    return env


def _ports(settings: Settings) -> dict[str, int]:
    return {"API": settings.api_port, "processor": settings.processor_web_port, "sender": settings.sender_port}


def run(settings: Settings) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    broker = LocalBroker.from_settings(settings)
    print(f"loyalty-stream: starting Kafka on {broker.bootstrap} (data in {broker.data_dir})", flush=True)
    broker.start()
    services: list[Service] = []
    try:
        created = create_topics(settings)
        print(f"loyalty-stream: topics ready ({len(created)} created)", flush=True)
        env = _local_env(settings)
        services = [Service(name, module) for name, module in SERVICES.items()]
        for service in services:
            service.proc = spawn([sys.executable, "-m", service.module], env=env)
        api = f"http://{settings.api_host}:{settings.api_port}"
        print(f"loyalty-stream: API on {api} (docs at {api}/docs); Ctrl-C stops everything", flush=True)
        waiting = _ports(settings)  # announced once every service answers /ready (a newcomer's "go" signal)
        while not stopping.wait(0.5):
            for service in services:
                _supervise(service, env)
            if waiting and all(answers_ok(f"http://127.0.0.1:{port}/ready") for port in waiting.values()):
                where = ", ".join(f"{name} :{port}" for name, port in waiting.items())
                print(f"loyalty-stream: ready ({where}; each serves /health, /ready, /metrics)", flush=True)
                waiting = {}
    finally:
        began = time.monotonic()
        # All at once, one deadline: each service bounds its own shutdown by shutdown_grace_seconds, and one
        # killed past it loses nothing acknowledged (docs/reliability.md); the broker goes last.
        stop_all([s.proc for s in services if s.proc is not None], grace=settings.shutdown_grace_seconds + 1)
        broker.stop(grace=BROKER_GRACE)
        print(f"loyalty-stream: stopped in {time.monotonic() - began:.1f}s", flush=True)
    return 0


def _supervise(service: Service, env: dict[str, str]) -> None:
    if service.proc is None or service.proc.poll() is None:
        return
    now = time.monotonic()
    service.restarts = [t for t in service.restarts if now - t < 60] + [now]
    delay = min(2 ** len(service.restarts), 30)
    log.warning("%s exited with %s; restarting in %ss", service.name, service.proc.returncode, delay)
    print(f"loyalty-stream: {service.name} exited ({service.proc.returncode}); restarting in {delay}s", flush=True)
    time.sleep(delay)
    service.proc = spawn([sys.executable, "-m", service.module], env=env)
