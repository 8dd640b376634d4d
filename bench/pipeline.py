"""Phases on one pre-loaded input topic: the pipe baseline, the processor's drain, and its recovery."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer
from confluent_kafka.admin import NewTopic
from tqdm import tqdm

from bench.harness import (
    Outcomes,
    Procs,
    cpu_times,
    drained,
    end_offsets,
    load_control_plane,
    outcome_rate,
    per_second,
    producer,
    profiled,
    summarize_profile,
)
from bench.workload import STORES, as_json, event_key, events, member_ids, subscription
from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.client import admin
from loyalty_stream.kafka.topics import build_topics


@dataclass
class Preloaded:
    """The main topics with the control plane, members and N custom events written; the processor's state."""

    settings: Settings
    events: int
    drained: dict[str, Any] = field(default_factory=dict)


def _load(settings: Settings, people: list[tuple[str, str, str]], count: int, seed: int, desc: str) -> None:
    """The control plane, ``people`` and ``count`` events on the input topic of ``settings``."""
    # One subscription per store (to a closed port: no sender runs here), so the processor emits webhook records
    # as it would in production; without subscribers it skips them.
    subs = [subscription(store, 0, "http://127.0.0.1:9/hook") for store in STORES]
    load_control_plane(settings, people, subs)
    topic = build_topics(settings).custom_events.name
    p = producer(settings)
    for event in tqdm(events(count, people, seed), total=count, desc=desc):
        p.produce(topic, key=event_key(event), value=as_json(event))
        p.poll(0)
    p.flush(300)


def preload(run: Any) -> Preloaded:
    settings = run.settings("loyalty.")
    _load(settings, run.people, run.args.events, run.args.seed, "preload")
    return Preloaded(settings, run.args.events)


def warm_up(run: Any) -> dict[str, Any]:
    """A worker drains ``--processor-warmup`` events of the same workload on topics of its own, then stops,
    before the measured drain: a fresh broker JVM compiles its produce and fetch paths during its first ~15 s
    of such load (C2 took 40-60 % of one of the two cores), which a broker in service has long done
    (docs/benchmarks.md, the processor phase and "2026-12-04"). Its own rate is kept in the results: the cold figure."""
    count = run.args.processor_warmup
    settings = run.settings("warm.")
    people = member_ids(min(count, len(run.people)), run.args.seed + 11)
    _load(settings, people, count, run.args.seed + 11, "warm-up preload")
    outcomes = Outcomes(settings, from_start=True)
    with Procs(settings, run.logs / "warm-up") as procs:
        procs.service("processor", "processors")
        stamps = drained(outcomes, count, run.args.timeout, "warm-up")
    outcomes.close()
    return {"events": len(stamps), "events_per_s": round(outcome_rate(stamps))}


def pipe(run: Any, data: Preloaded) -> dict[str, Any]:
    """consume → produce of the same records, confluent-kafka, one process: the ceiling for the processor."""
    s = data.settings
    source = build_topics(s).custom_events.name
    sink = "bench.pipe-out"
    client = admin(s)  # kept: the future fails if the client is collected first
    client.create_topics([NewTopic(sink, s.topic_partitions, 1)])[sink].result(30)
    c = Consumer({**s.kafka_config(), "group.id": "bench-pipe", "auto.offset.reset": "earliest"})
    c.subscribe([source])
    p = producer(s, **{"linger.ms": 5})
    stamps: list[float] = []
    first = 0.0
    with tqdm(total=data.events, desc="pipe") as bar:
        while len(stamps) < data.events:
            batch = [m for m in c.consume(10000, 1.0) if m.error() is None]
            if batch and not first:
                first = time.monotonic()
            for m in batch:
                p.produce(sink, key=m.key(), value=m.value())
            p.poll(0)
            now = time.time()
            stamps += [now] * len(batch)
            bar.update(len(batch))
            if batch:
                c.commit(asynchronous=True)
    p.flush(120)
    seconds = time.monotonic() - first
    c.close()
    return {"events": len(stamps), "seconds": round(seconds, 2), "events_per_s": round(len(stamps) / seconds),
            "series": per_second(stamps)}  # fmt: skip


def _drain(run: Any, data: Preloaded, *, profile: bool) -> dict[str, Any]:
    outcomes = Outcomes(data.settings, from_start=True)
    with Procs(data.settings, run.logs / "processor") as procs:
        started = time.time()
        worker = procs.service("processor", "processors")
        with tqdm(total=data.events, desc="processor") as bar:
            stamps = outcomes.take(1, 600, bar)
            if not stamps:
                raise RuntimeError(f"no outcome within 600 s; see {run.logs / 'processor'}")
            cpu_before = cpu_times(worker.pid)
            with profiled(worker.pid, run.out / "profiles" / "processor.txt", enabled=profile):
                stamps += outcomes.take(data.events - len(stamps), run.args.timeout, bar)
            cpu_after = cpu_times(worker.pid)
        outcomes.close()
    first, last = stamps[0] / 1000, max(stamps) / 1000
    rate = (len(stamps) - 1) / (last - first) if last > first else 0.0
    process_cpu, main_cpu, main_waiting = (b - a for a, b in zip(cpu_before, cpu_after, strict=True))
    return {
        "events": len(stamps),
        "startup_s": round(first - started, 2),
        "drain_s": round(last - first, 2),
        "events_per_s": round(rate),
        # CPU per event: steadier than the rate on a machine shared with the broker (docs/benchmarks.md)
        "cpu_us_per_event": {
            "process": round(process_cpu / len(stamps) * 1e6, 1),
            "main_thread": round(main_cpu / len(stamps) * 1e6, 1),
            "main_thread_waiting_for_cpu": round(main_waiting / len(stamps) * 1e6, 1),
        },
        "series": per_second(s / 1000 for s in stamps),
    }


def processor(run: Any, data: Preloaded) -> dict[str, Any]:
    """One worker process drains the pre-loaded topic (after the warm-up on a topic of its own); rate from its
    first to its last outcome."""
    warmup = warm_up(run) if run.args.processor_warmup else None
    result = data.drained = _drain(run, data, profile=run.args.profile)
    if warmup is not None:
        result["warmup"] = warmup
    ceilings = {
        "pipe": run.results.get("pipe", {}).get("events_per_s"),
        "consumer": run.results.get("consumer", {}).get("events_per_s"),
        "faust": run.results.get("faust", {}).get("events_per_s"),
        "faust_stock": run.results.get("faust", {}).get("stock", {}).get("events_per_s"),
    }
    for name, rate in ceilings.items():
        if rate:
            result[f"ratio_to_{name}"] = round(result["events_per_s"] / rate, 4)
    result["profile"] = summarize_profile(run.out / "profiles" / "processor.txt")
    result["records_written"] = written(data.settings)
    result["records_written_per_event"] = round(sum(result["records_written"].values()) / result["events"], 2)
    return result


def written(settings: Settings) -> dict[str, int]:
    """Records on the processor's output topics (outcomes, progress, webhooks, repartition, changelogs)."""
    t = build_topics(settings)
    names = [t.custom_event_outcomes.name, t.progress.name, t.webhooks.name, t.member_events.name]
    names += [c.name for c in t.changelogs]
    return {n: sum(end_offsets(settings, n).values()) for n in names}


def _restart(run: Any, data: Preloaded, name: str) -> dict[str, Any]:
    """Start a worker with one new event waiting; seconds from the start until that event's outcome."""
    s = data.settings
    topic = build_topics(s).custom_events.name
    store, customer_id, _email = run.people[0]
    event = next(events(1, run.people, run.args.seed))
    event.update(storeCode=store, customerData={"customerId": customer_id}, eventId=f"bench-probe-{name}")
    p = producer(s)
    p.produce(topic, key=f"{store}:customerId:{customer_id}".encode(), value=as_json(event))
    p.flush(30)
    outcomes = Outcomes(s)
    with Procs(s, run.logs / f"recovery-{name}") as procs:
        started = time.time()
        worker = procs.service("processor", "processors")
        with profiled(worker.pid, run.out / "profiles" / f"recovery-{name}.txt", enabled=run.args.profile):
            stamps = outcomes.take(1, run.args.timeout)
        outcomes.close()
    if not stamps:
        raise RuntimeError(f"recovery ({name}): no outcome within {run.args.timeout}s")
    return {"seconds": round(stamps[0] / 1000 - started, 2),
            "profile": summarize_profile(run.out / "profiles" / f"recovery-{name}.txt")}  # fmt: skip


def recovery(run: Any, data: Preloaded) -> dict[str, Any]:
    """Warm: restart on the same RocksDB directory. Cold: an empty one, restored from the changelogs."""
    if not data.drained:
        data.drained = _drain(run, data, profile=False)  # the progress to recover
    s = data.settings
    result: dict[str, Any] = {
        "members": len(run.people),
        "changelog_records": {t: n for t, n in written(s).items() if t.endswith("-changelog")},
    }
    result["warm"] = _restart(run, data, "warm")
    shutil.rmtree(s.data_dir / "processor")
    result["cold"] = _restart(run, data, "cold")
    return result
