"""The crash campaign: real broker, API, processor workers, sender and receiver, with faults injected at random
instants; the oracle (the pure core in memory) says what every member's progress must be afterwards.

    python -m tests.chaos --seeds 1,2,3 --members 200 --events 20 --faults 8

Every run is reproducible by seed (workload and fault schedule; timing still varies).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain import parse_achievement
from loyalty_stream.kafka.client import admin, create_topics
from loyalty_stream.kafka.health import group_is_active
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.localkafka import LocalBroker
from loyalty_stream.tools.procs import free_port, spawn, stop, wait_until
from schemas.serde import DecodeError, Serde
from tests.chaos.oracle import Oracle
from tests.chaos.workload import ACHIEVEMENTS, SCHEMAS, member_events
from tests.support.receiver import Receiver

STORE, KEY = "DEFAULT", "dev-key"
AUTH = {"X-AUTH-TOKEN": KEY}
FAULTS = ("kill9-processor", "two-workers-kill-one", "kill9-sender", "broker-restart", "sigterm-processor")


@dataclass
class Config:
    seed: int
    members: int = 60
    events: int = 12  # per member
    faults: int = 4
    clients: int = 6
    partitions: int = 4
    converge_seconds: float = 240.0
    processors: int = 1  # workers started at the beginning (scale-out runs use 2)
    kinds: tuple[str, ...] = FAULTS
    senders: int = 1
    workdir: Path | None = None


@dataclass
class Report:
    seed: int
    sent: int = 0
    accepted: int = 0
    faults: list[str] = field(default_factory=list)
    members: int = 0
    mismatched: int = 0
    lost: int = 0  # members whose pipeline totals are below the oracle's (something lost)
    doubled: int = 0  # members whose pipeline totals are above the oracle's (something counted twice)
    expected_webhooks: int = 0
    missing_webhooks: int = 0
    duplicate_deliveries: int = 0
    inconsistent_duplicates: int = 0
    unexpected_webhooks: int = 0
    accepted_not_in_topic: int = 0
    uncommitted: int = 0  # records of the processor's input topics its group had not committed once drained
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            not (
                self.mismatched
                or self.missing_webhooks
                or self.inconsistent_duplicates
                or self.unexpected_webhooks
                or self.accepted_not_in_topic
                or self.uncommitted
            )
            and self.accepted == self.sent
        )

    def row(self) -> str:
        return (
            f"| {self.seed} | {self.accepted}/{self.sent} | {len(self.faults)} ({', '.join(Counter(self.faults))}) "
            f"| {self.mismatched} | {self.lost} | {self.doubled} | {self.expected_webhooks - self.missing_webhooks}"
            f"/{self.expected_webhooks} | {self.duplicate_deliveries} | {self.inconsistent_duplicates} "
            f"| {self.accepted_not_in_topic} | {self.uncommitted} | {self.seconds:.0f}s "
            f"| {'PASS' if self.ok else 'FAIL'} |"
        )


HEADER = (
    "| seed | accepted/sent | faults | members ≠ oracle | lost | doubled | webhooks received/expected "
    "| duplicate deliveries | duplicates with other data | 200s missing from topic | uncommitted once drained "
    "| time | result |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


class Services:
    """The real processes, restarted by a watchdog when they die (as a supervisor would)."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.procs: dict[str, Any] = {}
        self.wanted: set[str] = set()
        self.lock = threading.Lock()
        self.restarts = Counter[str]()
        self.ports: dict[str, int] = {}

    def _port(self, name: str, first: int) -> int:
        """The settings' port for the first of a kind; a free port of its own (kept across restarts) for the
        others: ``first + n`` could be a port another service already holds (processor1 failed to bind so)."""
        if name in ("processor0", "sender"):
            return first
        return self.ports.setdefault(name, free_port())

    def _env(self, name: str) -> dict[str, str]:
        env = {**os.environ, **self.settings.child_env(), "PYTHONUNBUFFERED": "1"}
        if name.startswith("processor"):
            env["LOYALTY_PROCESSOR_WEB_PORT"] = str(self._port(name, self.settings.processor_web_port))
        if name.startswith("sender"):
            env["LOYALTY_SENDER_PORT"] = str(self._port(name, self.settings.sender_port))
        return env

    def start(self, name: str) -> None:
        module = {"processor": "processors", "api": "ingest_api", "sender": "webhook_sender"}[name.rstrip("0123456789")]
        with self.lock:
            self.procs[name] = spawn([sys.executable, "-m", module], env=self._env(name), log=self.logs / f"{name}.log")
            self.wanted.add(name)

    def kill(self, name: str, *, graceful: bool = False, forget: bool = False) -> None:
        with self.lock:
            proc = self.procs.get(name)
            if forget:
                self.wanted.discard(name)
        if proc is None:
            return
        if graceful:
            stop(proc, grace=30)
        else:
            proc.kill()
            proc.wait()

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def watchdog(self, halt: threading.Event) -> None:
        while not halt.wait(1.0):
            for name in list(self.wanted):
                if not self.alive(name):
                    self.restarts[name] += 1
                    self.start(name)

    def stop_all(self) -> None:
        self.wanted.clear()
        for proc in self.procs.values():
            stop(proc, grace=20)


class Campaign:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.workdir = config.workdir or Path(tempfile.mkdtemp(prefix=f"chaos-{config.seed}-"))
        self.report = Report(seed=config.seed)
        self.accepted: list[str] = []
        self.accepted_lock = threading.Lock()

    # -- set-up ---------------------------------------------------------------------------------
    def _settings(self, broker: LocalBroker) -> Settings:
        tag = uuid.uuid4().hex[:6]
        return Settings(
            kafka_bootstrap_servers=broker.bootstrap,
            kafka_port=broker.port,
            topic_prefix=f"c{tag}.",
            topic_partitions=self.config.partitions,
            processor_app_id=f"chaos-{tag}",
            sender_group=f"chaos-s-{tag}",
            data_dir=self.workdir / "data",
            api_port=free_port(),
            processor_web_port=free_port(),
            sender_port=free_port(),
            stores=f"{STORE}:{KEY}",
            log_format="console",
            webhook_allow_loopback=True,
            produce_timeout_seconds=5.0,
            webhook_retry_schedule="1s,2s,4s,8s,15s,30s,30s,30s,30s,30s",
        )

    def _post(self, client: httpx.Client, path: str, body: Any) -> Any:
        response = client.post(path, json=body, headers=AUTH)
        if response.status_code not in (200, 204):
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def _set_up(self, api: str, receiver: Receiver) -> tuple[Oracle, list[tuple[str, str, dict[str, Any]]]]:
        with httpx.Client(base_url=f"{api}/api/{STORE}", timeout=30) as client:
            for schema in SCHEMAS:
                self._post(client, "/customEvent/schema", {"customEventSchema": schema})
            parsed = []
            for body in ACHIEVEMENTS:
                achievement_id = self._post(client, "/achievement", {"achievement": body})["achievementId"]
                parsed.append(parse_achievement(body, achievement_id=achievement_id, store_code=STORE))
            self._post(
                client,
                "/webhook/subscription",
                {
                    "webhookSubscription": {
                        "eventName": "MemberAchievementProgressWasChanged",
                        "url": receiver.url("/chaos"),
                    }
                },
            )
            members = []
            for n in range(self.config.members):
                email = f"chaos{n}-{self.config.seed}@example.com"
                customer_id = self._post(client, "/member", {"customer": {"email": email}})["customerId"]
                ident = {"customerId": customer_id} if n % 2 else {"email": email}
                members.append((customer_id, email, ident))
        return Oracle(STORE, parsed), members

    # -- running --------------------------------------------------------------------------------
    def _send_member(self, client: httpx.Client, ident: dict[str, Any], events: list[dict[str, Any]]) -> None:
        """One member's events and transactions in order; each retried (same eventId, same documentNumber) until
        the API says 200."""
        for event in events:
            if "transaction" in event:
                path, body, id_field = (
                    "/transaction",
                    {"transaction": {**event["transaction"], "customerData": ident}},
                    "transactionId",
                )
            else:
                path, body, id_field = "/customEvent", {"event": {**event, "customerData": ident}}, "customEventId"
            deadline = time.monotonic() + 300
            while True:
                try:
                    response = client.post(path, json=body, headers=AUTH)
                    if response.status_code == 200:
                        with self.accepted_lock:
                            self.accepted.append(response.json()[id_field])
                        break
                    if response.status_code != 503:
                        raise RuntimeError(f"event refused: {response.status_code} {response.text[:200]}")
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("the API kept refusing for 5 minutes")
                time.sleep(0.2)

    def _clients(self, api: str, work: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> list[threading.Thread]:
        queue = list(work)
        lock = threading.Lock()
        errors: list[BaseException] = []

        def worker() -> None:
            with httpx.Client(base_url=f"{api}/api/{STORE}", timeout=30) as client:
                while True:
                    with lock:
                        if not queue or errors:
                            return
                        ident, events = queue.pop()
                    try:
                        self._send_member(client, ident, events)
                    except BaseException as exc:  # surfaces in the report
                        errors.append(exc)
                        return

        threads = [threading.Thread(target=worker, daemon=True) for _ in range(self.config.clients)]
        for thread in threads:
            thread.start()
        self._client_errors = errors
        return threads

    def _fault(self, name: str, services: Services, broker: LocalBroker) -> None:
        pause = self.rng.uniform(0.5, 3.0)
        if name == "kill9-processor":
            victim = self.rng.choice(sorted(n for n in services.wanted if n.startswith("processor")))
            services.kill(victim)  # the watchdog restarts it
        elif name == "sigterm-processor":
            victim = self.rng.choice(sorted(n for n in services.wanted if n.startswith("processor")))
            services.kill(victim, graceful=True)
        elif name == "two-workers-kill-one":
            if "processor1" not in services.wanted:
                services.start("processor1")
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and "Worker ready" not in _tail(services.logs / "processor1.log"):
                    time.sleep(0.2)
            victim = self.rng.choice(["processor0", "processor1"])
            services.kill(victim, forget=victim == "processor1")  # processor0 always comes back
        elif name == "kill9-sender":
            services.kill("sender")
        elif name == "broker-restart":
            broker.stop()
            time.sleep(pause)
            broker.start()
            return
        time.sleep(pause)

    # -- checking -------------------------------------------------------------------------------
    def _read_all(self, settings: Settings, topic: str) -> list[Any]:
        c = Consumer(
            {
                **settings.kafka_config(),
                "group.id": f"chaos-read-{uuid.uuid4().hex}",
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            }
        )
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        done, out = set(), []
        while len(done) < len(parts):
            for msg in c.consume(1000, 1.0):
                if msg.error() is not None:
                    if msg.error().code() == -191:  # partition EOF
                        done.add(msg.partition())
                    continue
                out.append(msg)
        c.close()
        return out

    def _uncommitted(self, settings: Settings) -> int:
        """Records of the processor's input topics (events, member-events, member commands) past its group's
        committed offsets."""
        topics = build_topics(settings)
        c = Consumer({**settings.kafka_config(), "group.id": settings.processor_app_id})
        behind = 0
        try:
            for topic in (topics.custom_events.name, topics.member_events.name, topics.member_commands.name):
                parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
                for tp in _committed(c, parts):
                    behind += max(0, c.get_watermark_offsets(tp, timeout=10)[1] - max(tp.offset, 0))
            return behind
        finally:
            c.close()

    def _drained(self, settings: Settings) -> bool:
        return self._uncommitted(settings) == 0

    def _settled_uncommitted(self, settings: Settings, patience: float = 30.0) -> int:
        """Uncommitted records once the group has had time to commit what it processed: faust commits every
        2.8 s, and the processor's own timer (parking ticks) writes to the input topic now and then, so a single
        look can catch records a moment before their commit. A commit that no longer moves stays above 0."""
        deadline = time.monotonic() + patience
        while (behind := self._uncommitted(settings)) and time.monotonic() < deadline:
            time.sleep(1.0)
        return behind

    def _check(
        self, settings: Settings, oracle: Oracle, members: list[tuple[str, str, dict[str, Any]]], receiver: Receiver
    ) -> None:
        r = self.report
        topics = build_topics(settings)
        latest: dict[bytes, Any] = {}
        for msg in self._read_all(settings, f"{settings.processor_app_id}-progress-changelog"):
            latest[msg.key()] = msg.value()
        r.members = len(members)
        for customer_id, _email, _ident in members:
            raw = latest.get(f"{STORE}:{customer_id}".encode())
            got = orjson.loads(raw)["p"] if raw else {}
            want = orjson.loads(orjson.dumps(oracle.progress(customer_id)))
            if got != want:
                r.mismatched += 1
                diff = _count_diff(got, want)
                r.lost += diff < 0
                r.doubled += diff > 0
                if len(r.notes) < 5:
                    differ = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
                    r.notes.append(f"member {customer_id}: achievement -> (pipeline, oracle): {differ}")
        outcomes: dict[str, Any] = {}
        serde = Serde()
        for msg in self._read_all(settings, topics.custom_event_outcomes.name):
            outcomes[msg.key().decode().split(":", 1)[1]] = serde.decode(msg.value())[1] if msg.value() else None
        wrong = [
            (cid, want, (o or {}).get("status"), (o or {}).get("reason"))
            for cid, want in oracle.outcomes.items()
            if (o := outcomes.get(cid)) is None or (o["status"], o.get("reason")) != want
        ]
        r.notes += [
            f"outcome of {cid}: oracle {want}, pipeline {status} {reason}" for cid, want, status, reason in wrong[:8]
        ]
        received = _deliveries(receiver)
        r.expected_webhooks = len(oracle.expected)
        r.missing_webhooks = len(set(oracle.expected) - set(received))
        r.unexpected_webhooks = len(set(received) - set(oracle.expected))
        r.duplicate_deliveries = sum(len(v) - 1 for v in received.values())
        r.inconsistent_duplicates = sum(1 for v in received.values() if any(d != v[0] for d in v[1:]))
        in_topic = set()
        for msg in self._read_all(settings, topics.custom_events.name):
            try:
                name, record = serde.decode(msg.value(), allow_json=True)
            except DecodeError:
                continue
            if name == "CustomEvent":
                in_topic.add(record.get("customEventId"))
            elif name == "Transaction":
                in_topic.add(record.get("transactionId"))
        r.accepted_not_in_topic = len(set(self.accepted) - in_topic)

    # -- the whole run ----------------------------------------------------------------------------
    def run(self) -> Report:
        started = time.monotonic()
        broker = LocalBroker(
            data_dir=self.workdir / "kafka",
            port=free_port(),
            controller_port=free_port(),
            cache_dir=Settings().kafka_cache_dir,
        )
        broker.start()
        receiver = Receiver().start()
        settings = self._settings(broker)
        create_topics(settings)
        logs = self.workdir / "logs"
        services = Services(settings, logs)
        halt = threading.Event()
        try:
            for name in (
                "api",
                *(f"processor{n}" for n in range(self.config.processors)),
                *("sender" if n == 0 else f"sender{n}" for n in range(self.config.senders)),
            ):
                services.start(name)
            api = f"http://127.0.0.1:{settings.api_port}"
            wait_until(lambda: _ok(f"{api}/health"), timeout=90, what="API")
            wait_until(
                lambda: (
                    group_is_active(admin(settings), settings.processor_app_id)
                    and group_is_active(admin(settings), settings.sender_group)
                ),
                timeout=90,
                what="workers",
            )
            threading.Thread(target=services.watchdog, args=(halt,), daemon=True).start()
            oracle, members = self._set_up(api, receiver)
            now = datetime.now(UTC)
            work = []
            for n, (customer_id, email, ident) in enumerate(members):
                events = member_events(self.rng, n, self.config.events, now)
                for event in events:  # per member, the order sent is the order the pipeline sees
                    oracle.apply(customer_id, email, event)
                work.append((ident, events))
            # distinct inputs: a document sent again is the same transaction (the API answers its transactionId)
            self.report.sent = len(
                {e.get("eventId") or e["transaction"]["header"]["documentNumber"] for _i, es in work for e in es}
            )
            plan = [self.rng.choice(self.config.kinds) for _ in range(self.config.faults)]
            clients = self._clients(api, work)
            for name in plan:
                time.sleep(self.rng.uniform(0.5, 2.5))
                self._fault(name, services, broker)
                self.report.faults.append(name)
            for thread in clients:
                thread.join()
            if self._client_errors:
                raise self._client_errors[0]
            self.report.accepted = len(set(self.accepted))
            if "processor0" not in services.wanted:
                services.start("processor0")

            def converged() -> bool:
                return set(oracle.expected) <= {
                    r.json()["messageId"] for r in list(receiver.received)
                } and self._drained(settings)

            try:
                wait_until(converged, timeout=self.config.converge_seconds, what="convergence", interval=1.0)
            except TimeoutError as exc:
                self.report.notes.append(str(exc))
            self._check(settings, oracle, members, receiver)
            self.report.uncommitted = self._settled_uncommitted(settings)
            self.report.notes += [f"restarts by watchdog: {dict(services.restarts)}"]
        finally:
            halt.set()
            services.stop_all()
            receiver.stop()
            broker.stop()
            self.report.seconds = time.monotonic() - started
        return self.report


def _count_diff(got: dict[str, Any], want: dict[str, Any]) -> int:
    """Signed difference of what was counted: completions weigh 1000, then every bucket's value."""

    def total(progress: dict[str, Any]) -> float:
        return sum(
            a.get("n", 0) * 1000 + sum(float(b[1]) for r in a.get("r", []) for b in r.get("b", []))
            for a in progress.values()
        )

    return int(total(got) - total(want))


def _deliveries(receiver: Receiver) -> dict[str, list[Any]]:
    """messageId -> the data of every delivery of it (a request cut off mid-body is not a delivery)."""
    received: dict[str, list[Any]] = {}
    for request in list(receiver.received):
        try:
            body = request.json()
        except ValueError:
            continue
        received.setdefault(body["messageId"], []).append(body["data"])
    return received


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-200000:] if path.exists() else ""


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8,9,10")
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--events", type=int, default=20, help="events per member")
    parser.add_argument("--faults", type=int, default=10)
    parser.add_argument("--kinds", default=",".join(FAULTS), help="which faults to draw from")
    args = parser.parse_args()
    print(HEADER, flush=True)
    reports = []
    for seed in (int(s) for s in args.seeds.split(",")):
        config = Config(
            seed, members=args.members, events=args.events, faults=args.faults, kinds=tuple(args.kinds.split(","))
        )
        report = Campaign(config).run()
        reports.append(report)
        print(report.row(), flush=True)
        for note in report.notes:
            print(f"  seed {seed}: {note}", file=sys.stderr, flush=True)
    return 0 if all(r.ok for r in reports) else 1


def _committed(consumer: Consumer, parts: list[TopicPartition], deadline: float = 30.0) -> list[TopicPartition]:
    """The group's committed offsets; right after a broker restart the coordinator can still be moving (seen:
    NOT_COORDINATOR from seed 6's check), so that answer is asked again until ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        try:
            return list(consumer.committed(parts, timeout=10))
        except KafkaException as exc:
            retriable = exc.args[0].code() in (KafkaError.NOT_COORDINATOR, KafkaError.COORDINATOR_LOAD_IN_PROGRESS)
            if not retriable or time.monotonic() > end:
                raise
            time.sleep(0.5)
