"""Two phases with a processor running on topics of their own:

- ``hot-member``: one member with 50,000 events already applied; its next events against the same number of
  events for members seen for the first time. What a member's history costs per event (nothing, if the ratio
  is near 1: docs/benchmarks.md).
- ``latency``: events produced straight to Kafka at a steady rate (2,000/s for 30 s by default); from each
  produce to the first progress record it causes on ``loyalty.achievement-progress`` (that record's broker
  timestamp is when the processor produced it).
"""

from __future__ import annotations

import time
from typing import Any

from tqdm import tqdm

from bench.harness import FirstStamps, Outcomes, Procs, drained, load_control_plane, outcome_rate, percentiles, producer
from bench.workload import STORES, as_json, event_key, events, member_ids, subscription
from loyalty_stream.domain.ids import custom_event_id
from loyalty_stream.kafka.topics import build_topics

HOT_HISTORY = 50_000
HOT_MEASURED = 20_000


def _produce(settings: Any, batch: list[dict[str, Any]], **config: Any) -> None:
    topic = build_topics(settings).custom_events.name
    p = producer(settings, **config)
    for event in batch:
        p.produce(topic, key=event_key(event), value=as_json(event))
        p.poll(0)
    p.flush(300)


def hot_member(run: Any) -> dict[str, Any]:
    settings = run.settings("hot.")
    people = member_ids(HOT_MEASURED + 1, run.args.seed + 7)
    hot, fresh = people[0], people[1:]
    load_control_plane(settings, people, [subscription(store, 0, "http://127.0.0.1:9/hook") for store in STORES])
    history = list(events(HOT_HISTORY, [hot], run.args.seed, ids="hot-history"))
    outcomes = Outcomes(settings, from_start=True)
    with Procs(settings, run.logs / "hot-member") as procs:
        procs.service("processor", "processors")
        _produce(settings, history)
        drained(outcomes, HOT_HISTORY, run.args.timeout, "hot member's history")
        _produce(settings, list(events(HOT_MEASURED, [hot], run.args.seed, ids="hot-next")))
        hot_rate = outcome_rate(drained(outcomes, HOT_MEASURED, run.args.timeout, "hot member"))
        _produce(settings, list(events(HOT_MEASURED, fresh, run.args.seed, ids="fresh")))
        fresh_rate = outcome_rate(drained(outcomes, HOT_MEASURED, run.args.timeout, "fresh members"))
    outcomes.close()
    return {
        "history": HOT_HISTORY,
        "events": HOT_MEASURED,
        "hot_events_per_s": round(hot_rate),
        "fresh_events_per_s": round(fresh_rate),
        "ratio": round(hot_rate / fresh_rate, 3) if fresh_rate else None,
    }


def _offer(
    p: Any, topic: str, records: list[tuple[str, bytes, bytes]], rate: float, desc: str
) -> tuple[dict[str, float], float]:
    """Produce ``records`` open loop at ``rate`` (in 5 ms steps: every record due by now goes out, whatever the
    processor does); returns each one's produce time (epoch ms, by customEventId) and the seconds it took."""
    produced: dict[str, float] = {}
    started, sent = time.monotonic(), 0
    with tqdm(total=len(records), desc=desc) as bar:
        while sent < len(records):
            due = min(len(records), int((time.monotonic() - started) * rate) + 1)
            now_ms = time.time() * 1000
            for n in range(sent, due):
                cid, key, value = records[n]
                produced[cid] = now_ms
                p.produce(topic, key=key, value=value)
            bar.update(due - sent)
            sent = due
            p.poll(0)
            time.sleep(0.005)
    took = time.monotonic() - started
    p.flush(60)
    return produced, took


def _latencies(produced: dict[str, float], first: dict[str, int]) -> list[float]:
    return [first[cid] - at for cid, at in produced.items() if cid in first]


def latency(run: Any) -> dict[str, Any]:
    """``--latency-warmup`` seconds of load at ``--latency-rate`` on a worker just started, drained; then
    ``--latency-seconds`` of the same load, measured. The warm-up is what a broker started minutes ago needs:
    its JIT compiler takes 30-60 % of a core for the first ~20 s of a new load on this machine (sampled per
    thread, docs/benchmarks.md), and the backlog it causes takes as long again to drain. Its latencies are
    reported apart (``warmup_latency_ms``), never mixed into the measured ones."""
    rate, seconds, warmup = run.args.latency_rate, run.args.latency_seconds, run.args.latency_warmup
    settings = run.settings("lat.")
    people = member_ids(20_000, run.args.seed + 11)
    load_control_plane(settings, people, [subscription(store, 0, "http://127.0.0.1:9/hook") for store in STORES])
    topic = build_topics(settings).custom_events.name
    warm_count, total = int(rate * warmup), int(rate * warmup) + int(rate * seconds)
    records = []
    for event in events(total, people, run.args.seed, ids="latency"):
        records.append((custom_event_id(event["storeCode"], event["eventId"]), event_key(event), as_json(event)))
    outcomes = Outcomes(settings)
    progress = FirstStamps(settings, build_topics(settings).progress.name, "triggerId")
    with Procs(settings, run.logs / "latency") as procs:
        procs.service("processor", "processors")
        _produce(settings, list(events(200, people, run.args.seed, ids="latency-ready")))
        drained(outcomes, 200, run.args.timeout, "processor ready")
        p = producer(settings, **{"linger.ms": 1})
        warmed: dict[str, float] = {}
        if warm_count:
            warmed, _took = _offer(p, topic, records[:warm_count], rate, f"latency warm-up at {rate:g}/s")
            drained(outcomes, warm_count, run.args.timeout, "latency warm-up drained")
        produced, sent_seconds = _offer(p, topic, records[warm_count:], rate, f"latency at {rate:g}/s")
        drained(outcomes, total - warm_count, run.args.timeout, "latency outcomes")  # every event decided
        progress.read_to_end(run.args.timeout)
    outcomes.close()
    progress.close()
    latencies = _latencies(produced, progress.first)
    start_ms = min(produced.values())
    by_second: dict[int, list[float]] = {}
    for cid, at in produced.items():
        if cid in progress.first:
            by_second.setdefault(int((at - start_ms) / 1000), []).append(progress.first[cid] - at)
    warm_latencies = _latencies(warmed, progress.first)
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "events": len(produced),
        "achieved_send_per_s": round(len(produced) / sent_seconds, 1),
        "with_progress": len(latencies),
        "latency_ms": _summary(latencies),
        "warmup_latency_ms": _summary(warm_latencies),
        "p99_ms_by_second": [percentiles(by_second.get(s, []), (99,)).get("p99") for s in range(max(by_second) + 1)]
        if by_second
        else [],
    }


def _summary(latencies: list[float]) -> dict[str, float | None]:
    return {**percentiles(latencies, (50, 90, 99)), "max": round(max(latencies), 2) if latencies else None}
