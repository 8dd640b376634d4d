"""Shared bench plumbing: a broker of its own, topics, control plane and members loaded straight into Kafka,
child processes that are always stopped, the outcome stream, load average and py-spy profiles."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from tqdm import tqdm

from bench.workload import SCHEMAS, STORES, achievements
from loyalty_stream.config.settings import Settings
from loyalty_stream.domain import parse_achievement
from loyalty_stream.domain.clock import iso_utc
from loyalty_stream.kafka.client import create_topics
from loyalty_stream.kafka.keys import join_key
from loyalty_stream.kafka.topics import Topic, build_topics
from loyalty_stream.tools.localkafka import LocalBroker
from loyalty_stream.tools.procs import free_port, port_open, spawn, stop, wait_until
from schemas.serde import Serde


def start_broker(workdir: Path | None = None) -> tuple[LocalBroker, Path]:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    broker = LocalBroker(
        data_dir=workdir / "kafka",
        port=free_port(),
        controller_port=free_port(),
        cache_dir=Settings().kafka_cache_dir,
        heap="1g",
    )
    broker.start()
    return broker, workdir


def bench_settings(broker: LocalBroker, workdir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": broker.bootstrap,
        "kafka_port": broker.port,
        "data_dir": workdir / "data",
        "stores": "DEFAULT:dev-key,OTHER:other-key:Europe/Warsaw",
        "api_port": free_port(),
        "processor_web_port": free_port(),
        "sender_port": free_port(),
        "log_level": "WARNING",
        "log_format": "console",
        "webhook_allow_loopback": True,
    }
    values.update(overrides)
    settings = Settings(**values)
    create_topics(settings)
    return settings


def producer(settings: Settings, **extra: Any) -> Producer:
    return Producer(
        {
            **settings.kafka_config(),
            "enable.idempotence": True,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 1000000,
            "compression.type": "lz4",
            **extra,
        }
    )


def load_control_plane(
    settings: Settings, members: Iterable[tuple[str, str, str]], subscriptions: Iterable[dict[str, Any]] = ()
) -> None:
    """Schemas, achievements (parsed first, so they are valid), webhook subscriptions and members, written
    straight to their topics."""
    serde, topics, p = Serde(), build_topics(settings), producer(settings)
    now = iso_utc()

    def put(topic: Topic, store: str, ident: str, record: dict[str, Any]) -> None:
        p.produce(topic.name, key=join_key(store, ident), value=serde.encode_for(topic, {"storeCode": store, **record}))
        p.poll(0)

    stamps = {"createdAt": now, "updatedAt": now}
    for sub in subscriptions:
        put(topics.subscriptions, sub["storeCode"], sub["subscriptionId"], {**sub, **stamps})
    for store in STORES:
        for event_type, fields in SCHEMAS.items():
            schema = {"eventType": event_type, "name": event_type, "fields": fields, "active": True}
            put(topics.schemas, store, event_type, schema)
        for n, body in enumerate(achievements()):
            achievement_id = f"00000000-0000-4000-8000-{store == 'OTHER':06d}{n:06d}"
            parse_achievement(body, achievement_id=achievement_id, store_code=store)
            record = {"achievementId": achievement_id, "rulesVersion": 1, "definition": orjson.dumps(body).decode()}
            put(topics.achievements, store, achievement_id, {**record, **stamps})
    for store, customer_id, email in members:
        member = {"customerId": customer_id, "email": email, "active": True, "version": 1, "registeredAt": now}
        put(topics.members, store, customer_id, {**member, "updatedAt": now})
    p.flush(120)


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    c = Consumer({**settings.kafka_config(), "group.id": "bench-ends"})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    finally:
        c.close()


def committed(settings: Settings, group: str, topic: str) -> dict[int, int]:
    c = Consumer({**settings.kafka_config(), "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in c.list_topics(topic, timeout=10).topics[topic].partitions]
        return {tp.partition: max(tp.offset, 0) for tp in c.committed(parts, timeout=10)}
    finally:
        c.close()


def wait_drained(settings: Settings, group: str, topics: list[str], timeout: float, poll: float = 0.5) -> float:
    """Wait until ``group`` committed every topic's end; return when (monotonic)."""
    deadline = time.monotonic() + timeout
    while True:
        if all(sum(committed(settings, group, t).values()) >= sum(end_offsets(settings, t).values()) for t in topics):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{group} did not drain {topics} in {timeout}s")
        time.sleep(poll)


# -- raw HTTP/1.1 (a Python HTTP client is slower than the API it measures: httpx did 65 registrations/s
# from 50 clients where these connections did 290) -----------------------------------------------------


def post_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes]:
    """One request on a keep-alive connection: (status, body)."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head)[1])  # type: ignore[index]
    return int(head[9:12]), await reader.readexactly(length)


# -- processes --------------------------------------------------------------------------------------


class Procs:
    """Child processes of one phase; ``with Procs(...) as procs`` stops every one of them, even on failure."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        full_env = {**os.environ, **self.settings.child_env(), "PYTHONUNBUFFERED": "1", **env}
        proc = spawn(argv, env=full_env, log=self.logs / f"{name}.log")
        self.running[name] = proc
        return proc

    def service(self, name: str, module: str) -> subprocess.Popen[bytes]:
        return self.start(name, [sys.executable, "-m", module])

    def receiver(self, out: Path, port: int, hosts: list[str] | None = None) -> subprocess.Popen[bytes]:
        proc = self.start("receiver", [sys.executable, "-m", "bench.receiver", str(out), str(port), *(hosts or [])])
        wait_until(lambda: port_open("127.0.0.1", port), timeout=30, what="the bench receiver")
        return proc

    def stop(self, name: str) -> None:
        proc = self.running.pop(name, None)
        if proc is not None:
            stop(proc, grace=20)

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *_exc: object) -> None:
        for name in list(self.running):
            self.stop(name)


def arrivals(path: Path) -> list[tuple[float, str]]:
    """The receiver's log: (epoch seconds, eventId or '-') per request."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        when, _, event_id = line.partition(" ")
        out.append((float(when), event_id))
    return out


def count_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


# -- measuring ---------------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def per_second(stamps: Iterable[float]) -> list[int]:
    """Counts per whole second since the first stamp (for throughput-over-time plots)."""
    stamps = sorted(stamps)
    if not stamps:
        return []
    counts = Counter(int(s - stamps[0]) for s in stamps)
    return [counts.get(i, 0) for i in range(max(counts) + 1)]


def percentiles(values: list[float], points: Iterable[float] = (50, 95, 99)) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {f"p{p:g}": round(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))], 2) for p in points}


class Outcomes:
    """Reads the custom-event outcomes topic from now on (or from the start): one per processed event."""

    def __init__(self, settings: Settings, *, from_start: bool = False) -> None:
        topic = build_topics(settings).custom_event_outcomes.name
        self.consumer = Consumer(
            {**settings.kafka_config(), "group.id": f"bench-outcomes-{time.time_ns()}", "enable.auto.commit": False}
        )
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        assignment = []
        for p in parts:
            low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            assignment.append(TopicPartition(topic, p, low if from_start else high))
        self.consumer.assign(assignment)

    def take(self, count: int, timeout: float, progress: Any = None) -> list[int]:
        """Broker timestamps (ms) of the next ``count`` outcomes; fewer when ``timeout`` runs out."""
        stamps: list[int] = []
        deadline = time.monotonic() + timeout
        while len(stamps) < count and time.monotonic() < deadline:
            batch = [m for m in self.consumer.consume(10000, 0.5) if m.error() is None]
            stamps += [m.timestamp()[1] for m in batch]
            if progress is not None:
                progress.update(len(batch))
        return stamps

    def close(self) -> None:
        self.consumer.close()


class FirstStamps:
    """A topic from its end on (the ends when it is made): the broker timestamp (ms) of the first record per
    value of ``field`` (the outcomes' ``eventId``, the progress records' ``triggerId``)."""

    def __init__(self, settings: Settings, topic: str, field: str) -> None:
        from schemas.serde import Serde

        self.topic, self.field, self.serde = topic, field, Serde()
        self.consumer = Consumer({**settings.kafka_config(), "group.id": f"bench-first-{time.time_ns()}"})
        self.partitions = list(self.consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        self.next = {p: self._end(p) for p in self.partitions}  # the next offset to read, per partition
        self.consumer.assign([TopicPartition(topic, p, end) for p, end in self.next.items()])
        self.first: dict[str, int] = {}

    def _end(self, partition: int) -> int:
        return int(self.consumer.get_watermark_offsets(TopicPartition(self.topic, partition))[1])

    def _read(self) -> None:
        for m in self.consumer.consume(10000, 0.2):
            if m.error() is None:
                self.next[m.partition()] = m.offset() + 1
                if m.value():
                    self.first.setdefault(self.serde.decode(m.value())[1][self.field], m.timestamp()[1])

    def read_to_end(self, timeout: float) -> None:
        """Every record written so far (the ends as they are now), within ``timeout`` seconds. A fixed read time
        cut off the tail of a large backlog: the run of 2026-12-06 read the progress of 54,590 of 60,000 events."""
        ends = {p: self._end(p) for p in self.partitions}
        deadline = time.monotonic() + timeout
        while any(self.next[p] < end for p, end in ends.items()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.topic} not read to its end in {timeout:g} s: at {self.next}, ends {ends}")
            self._read()

    def of(self, ids: set[str], timeout: float) -> dict[str, int]:
        """The first timestamps of ``ids``, reading on for up to ``timeout`` seconds while some are missing
        (those still missing then are left out)."""
        deadline = time.monotonic() + timeout
        while not ids <= self.first.keys() and time.monotonic() < deadline:
            self._read()
        return {i: self.first[i] for i in ids if i in self.first}

    def close(self) -> None:
        self.consumer.close()


def drained(outcomes: Outcomes, count: int, timeout: float, what: str) -> list[int]:
    """The timestamps (epoch ms) of the next ``count`` outcomes, with a progress bar; raises if fewer came."""
    with tqdm(total=count, desc=what) as bar:
        stamps = outcomes.take(count, timeout, bar)
    if len(stamps) < count:
        raise RuntimeError(f"{what}: {len(stamps)} of {count} outcomes within {timeout:.0f} s")
    return stamps


def outcome_rate(stamps: list[int]) -> float:
    """Outcomes per second from the first to the last of ``stamps`` (epoch ms)."""
    first, last = min(stamps) / 1000, max(stamps) / 1000
    return (len(stamps) - 1) / (last - first) if last > first else 0.0


# -- profiles ----------------------------------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float, float]:
    """Seconds so far: the process's CPU time (all threads), its main thread's time on a CPU, and the time the
    main thread was runnable but waited for a CPU (taken by other processes: the machine is shared)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        on_cpu, waiting, _slices = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except (OSError, ValueError):
        return 0.0, 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(on_cpu) / 1e9, int(waiting) / 1e9


def tree_cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each of ``pids`` and every live process below it (the API's uvicorn workers),
    from one walk of /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    totals: dict[str, float] = {}
    for name, pid in pids.items():
        total, todo = 0.0, [pid]
        while todo:
            current = todo.pop()
            total += cpu_times(current)[0]
            todo += children.get(current, [])
        totals[name] = total
    return totals


def cores_used(pids: dict[str, int], body: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """``body()``'s result, and the cores each of ``pids`` (with its children) and this process itself
    (``bench``: whatever the body runs here, e.g. a load generator) used on average while it ran."""

    def own() -> float:
        times = os.times()
        return times.user + times.system  # this process only: its children are counted under their names

    before, started = tree_cpu_seconds(pids), time.monotonic()
    own_before = own()
    result = body()
    wall = time.monotonic() - started
    after = tree_cpu_seconds(pids)
    used = {name: round((after[name] - before[name]) / wall, 2) for name in pids}
    used["bench"] = round((own() - own_before) / wall, 2)
    return result, {**used, "total": round(sum(used.values()), 2)}


def sender_counts(settings: Settings) -> dict[str, float]:
    """The sender's delivery counters from its /metrics: delivered, retried (delay-topic records) and each
    kind of failed attempt ("deferred": the lane's backlog was full or its circuit open, not tried)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{settings.sender_port}/metrics", timeout=5).text
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("loyalty_webhook_deliveries_total", "loyalty_webhook_retries_total"):
                key = sample.name.removeprefix("loyalty_webhook_").removesuffix("_total")
            elif sample.name == "loyalty_webhook_failures_total":
                key = f"failed {sample.labels.get('kind', '')}"
            else:
                continue
            counts[key] = counts.get(key, 0.0) + sample.value
    return counts


@contextlib.contextmanager
def profiled(pid: int, out: Path, seconds: float = 20.0, *, enabled: bool = True) -> Iterator[None]:
    """py-spy samples ``pid`` for ``seconds`` (in the background) while the body runs, only threads holding the
    GIL (``--gil``: what keeps the interpreter busy, not what waits); raw stacks to ``out``, and the CPU use
    (% of one core) over the whole body to ``out`` + ``.cpu`` (see ``cpu_times``)."""
    spy = None
    if enabled:
        out.parent.mkdir(parents=True, exist_ok=True)
        time.sleep(0.5)  # a process that has just been started: let the interpreter come up
        before, started = cpu_times(pid), time.monotonic()
        spy = subprocess.Popen(
            [str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(pid), "-d", str(int(seconds)),
             "-r", "50", "--gil", "--threads", "-f", "raw", "-o", str(out), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield
    finally:
        if spy is not None:
            wall = time.monotonic() - started
            used = [round(100 * (b - a) / wall) for a, b in zip(before, cpu_times(pid), strict=True)]
            names = ("process_cpu", "main_thread_cpu", "main_thread_waiting_for_cpu")
            Path(f"{out}.cpu").write_text(json.dumps(dict(zip(names, used, strict=True))))
            try:
                spy.wait(seconds + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()


LAYERS = {
    "aiokafka": "aiokafka", "kafka": "aiokafka", "faust": "faust/mode", "mode": "faust/mode",
    "asyncio": "asyncio", "selectors": "asyncio", "uvloop": "asyncio",
    "schemas": "Avro (schemas/serde, fastavro)", "fastavro": "Avro (schemas/serde, fastavro)",
    "confluent_kafka": "confluent-kafka", "rocksdict": "RocksDB",
    "httpx": "HTTP client (httpx/httpcore/anyio)", "httpcore": "HTTP client (httpx/httpcore/anyio)",
    "anyio": "HTTP client (httpx/httpcore/anyio)", "sniffio": "HTTP client (httpx/httpcore/anyio)",
    "h11": "h11", "fastapi": "FastAPI/starlette/pydantic/uvicorn", "starlette": "FastAPI/starlette/pydantic/uvicorn",
    "pydantic": "FastAPI/starlette/pydantic/uvicorn", "pydantic_core": "FastAPI/starlette/pydantic/uvicorn",
    "uvicorn": "FastAPI/starlette/pydantic/uvicorn", "prometheus_client": "prometheus_client",
    "json": "JSON", "orjson": "JSON", "threading": "threads", "processors": "processors/ (ours)",
    "ingest_api": "ingest_api/ (ours)", "webhook_sender": "webhook_sender/ (ours)",
}  # fmt: skip


def _where(frame: str) -> str:
    """'function (file:line)' → the file (py-spy prints paths relative to sys.path, e.g. aiokafka's client.py)."""
    return frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0] or "?"


def _layer(where: str) -> str:
    if where.startswith("loyalty_stream/domain"):
        return "domain logic (loyalty_stream/domain)"
    if where.startswith("loyalty_stream"):
        return "loyalty_stream/ (ours)"
    return LAYERS.get(where.split("/")[0].removesuffix(".py"), "other")


OURS = ("processors/", "ingest_api/", "webhook_sender/", "loyalty_stream/", "schemas/")


def summarize_profile(path: Path, top: int = 8) -> dict[str, Any]:
    """From py-spy's raw output (GIL-holding samples, by thread): % of samples by thread, self time by layer
    (library or our package), by file and by function, and inclusive time of our own functions; plus CPU use."""
    counters: dict[str, Counter[str]] = {k: Counter() for k in ("thread", "layer", "file", "function", "inclusive")}
    total = 0
    if not path.exists():
        return {}
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        thread, *frames = stack.split(";")
        if not frames:
            continue
        n = int(count)
        total += n
        leaf = _where(frames[-1])
        counters["thread"][thread.partition(": ")[2] or thread] += n
        counters["layer"][_layer(leaf)] += n
        counters["file"][leaf] += n
        counters["function"][frames[-1].split(" (")[0] + " @ " + leaf] += n
        for name in {f.split(" (")[0] + " @ " + _where(f) for f in frames if _where(f).startswith(OURS)}:
            counters["inclusive"][name] += n
    if not total:
        return {}

    def pct(counter: Counter[str]) -> dict[str, float]:
        return {k: round(100 * v / total, 1) for k, v in counter.most_common(top)}

    cpu = Path(f"{path}.cpu")
    return {
        "samples": total,
        "cpu_percent": json.loads(cpu.read_text()) if cpu.exists() else None,
        "by_thread": pct(counters["thread"]),
        "self_by_layer": pct(counters["layer"]),
        "self_by_file": pct(counters["file"]),
        "self_by_function": pct(counters["function"]),
        "ours_inclusive": pct(counters["inclusive"]),
    }
