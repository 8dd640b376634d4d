"""Quick processor throughput probe: preload N events, start one worker, time the drain (outcome timestamps)."""

from __future__ import annotations

import os
import sys
import time

from confluent_kafka import Consumer

from bench.harness import bench_settings, load_control_plane, producer, start_broker
from bench.workload import as_json, events, member_ids
from loyalty_stream.procs import spawn, stop
from loyalty_stream.topics import build_topics


def main(n: int = 20000, members: int = 2000, seed: int = 1) -> None:
    broker, workdir = start_broker()
    try:
        settings = bench_settings(broker, workdir)
        topics = build_topics(settings)
        people = member_ids(members, seed)
        load_control_plane(settings, people)
        p = producer(settings)
        for event in events(n, people, seed):
            p.produce(topics.custom_events.name, value=as_json(event))
            p.poll(0)
        p.flush(120)
        worker = spawn(
            [sys.executable, "-m", "processors"],
            env={**os.environ, **settings.child_env()},
            log=workdir / "processor.log",
        )
        c = Consumer({**settings.kafka_config(), "group.id": "bench-outcomes", "auto.offset.reset": "earliest"})
        c.subscribe([topics.custom_event_outcomes.name])
        stamps: list[int] = []
        started = time.monotonic()
        while len(stamps) < n and time.monotonic() - started < 900:
            for msg in c.consume(10000, 1.0):
                if msg.error() is None:
                    stamps.append(msg.timestamp()[1])
        c.close()
        stop(worker)
        span = (max(stamps) - min(stamps)) / 1000
        print(f"{len(stamps)} outcomes in {span:.1f}s = {len(stamps) / span:,.0f} events/s (first->last outcome)")
    finally:
        broker.stop()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
