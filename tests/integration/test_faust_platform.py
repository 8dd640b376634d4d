"""faust-streaming on our Kafka 4.x broker: a RocksDB table, a two-worker rebalance, kill -9 and restart.

Nothing is lost (every input reaches the output) and the table survives rebalances and the restart
(counts keep growing from where they were, never back to zero). At-least-once may count a record twice
after kill -9: that is what the processor's applied-event log is for, and why this test allows it.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections import defaultdict

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from loyalty_stream.procs import free_port, spawn, stop, wait_until

KEYS = [f"k{i}" for i in range(8)]


def _produce(bootstrap: str, topic: str, ids: range) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in ids:
        producer.produce(topic, key=KEYS[i % len(KEYS)].encode(), value=str(i).encode())
    producer.flush(30)


class Output:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex, "auto.offset.reset": "earliest"}
        )
        self.consumer.subscribe([topic])
        self.rows: list[tuple[str, int, int, int]] = []

    def poll(self) -> None:
        for msg in self.consumer.consume(500, 0.2):
            if msg.error() is None:
                key, count, pid, ident = msg.value().decode().split(":")
                self.rows.append((key, int(count), int(pid), int(ident)))

    def ids(self) -> set[int]:
        return {row[3] for row in self.rows}

    def wait_ids(self, wanted: set[int], timeout: float = 90) -> None:
        def done() -> bool:
            self.poll()
            return wanted <= self.ids()

        wait_until(done, timeout=timeout, what=f"{len(wanted - self.ids())} records to come out")


def test_rocksdb_table_rebalance_and_kill(kafka, tmp_path) -> None:
    prefix = f"probe{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    for future in admin.create_topics([NewTopic(f"{prefix}-in", 4, 1), NewTopic(f"{prefix}-out", 1, 1)]).values():
        future.result()

    def worker(name: str):
        env = {
            **os.environ,
            "PROBE_BROKER": kafka.bootstrap,
            "PROBE_PREFIX": prefix,
            "PROBE_DATADIR": str(tmp_path / name),
            "PROBE_WEB_PORT": str(free_port()),
        }
        # faust declares its own internal topics here (the probe is not our app: our topic table does that)
        return spawn(
            [sys.executable, "-m", "tests.support.faust_probe", "worker", "-l", "info"],
            env=env,
            log=tmp_path / f"{name}.log",
        )

    out = Output(kafka.bootstrap, f"{prefix}-out")
    a = worker("a")
    b = None
    try:
        _produce(kafka.bootstrap, f"{prefix}-in", range(0, 80))
        out.wait_ids(set(range(0, 80)))
        pid_a = a.pid

        b = worker("b")
        wait_until(
            lambda: "Worker ready" in (tmp_path / "b.log").read_text(errors="replace"),
            timeout=90,
            what="worker b to join",
        )
        _produce(kafka.bootstrap, f"{prefix}-in", range(80, 240))
        out.wait_ids(set(range(80, 240)))
        late = [row for row in out.rows if row[3] >= 80]
        assert {row[2] for row in late} >= {pid_a, b.pid}, "both workers process after the rebalance"
        # b restored the table from the changelog: its counts continue from a's, not from zero.
        assert all(count > 10 for _key, count, pid, _ident in late if pid == b.pid)

        b.kill()
        b.wait()
        _produce(kafka.bootstrap, f"{prefix}-in", range(240, 320))
        out.wait_ids(set(range(240, 320)), timeout=120)  # a takes b's partitions after the session timeout

        b = worker("b")  # restart on its warm RocksDB store
        wait_until(
            lambda: (tmp_path / "b.log").read_text(errors="replace").count("Worker ready") >= 2,
            timeout=90,
            what="worker b to come back",
        )
        _produce(kafka.bootstrap, f"{prefix}-in", range(320, 400))
        out.wait_ids(set(range(320, 400)))
    finally:
        for proc in (a, b):
            if proc is not None:
                stop(proc)

    final: dict[str, int] = defaultdict(int)
    for key, count, _pid, _ident in out.rows:
        final[key] = max(final[key], count)
    assert all(final[key] >= 400 // len(KEYS) for key in KEYS), final  # nothing lost from the table
