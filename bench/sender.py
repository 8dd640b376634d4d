"""Sender phase: a pre-loaded webhooks topic drained by one sender to 1 and to 50 local endpoints."""

from __future__ import annotations

import time
from typing import Any

from tqdm import tqdm

from bench.harness import (
    Procs,
    arrivals,
    count_lines,
    end_offsets,
    load_control_plane,
    per_second,
    producer,
    profiled,
    summarize_profile,
)
from bench.workload import subscription, webhook_messages
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import free_port
from schemas.serde import Serde


def _case(run: Any, endpoints: int) -> dict[str, Any]:
    """``endpoints`` subscriptions of one store, each its own destination (127.0.0.k: its own connection pool).
    Every message fans out to all of them, so deliveries = messages × endpoints."""
    settings = run.settings(f"sender{endpoints}.")
    port = free_port()
    hosts = [f"127.0.0.{k}" for k in range(1, endpoints + 1)]
    subs = [subscription("DEFAULT", k, f"http://{host}:{port}/hook/{k}") for k, host in enumerate(hosts)]
    load_control_plane(settings, [], subs)
    messages = max(1, run.args.sender_deliveries // endpoints)
    deliveries = messages * endpoints
    topic, serde, p = build_topics(settings).webhooks.name, Serde(), producer(settings)
    members = [m for m in run.people if m[0] == "DEFAULT"]
    for key, record in tqdm(webhook_messages(messages, members, run.args.seed), total=messages, desc="preload"):
        p.produce(topic, key=key, value=serde.encode("WebhookMessage", record))
        p.poll(0)
    p.flush(120)
    hooks = run.out / f"sender-{endpoints}-hooks.txt"
    hooks.unlink(missing_ok=True)
    with Procs(settings, run.logs / f"sender-{endpoints}") as procs:
        procs.receiver(hooks, port, hosts)
        started = time.time()
        sender = procs.service("sender", "webhook_sender")
        deadline = time.monotonic() + run.args.timeout
        with tqdm(total=deliveries, desc=f"sender {endpoints} endpoint(s)") as bar:
            while not count_lines(hooks) and time.monotonic() < deadline:
                time.sleep(0.2)
            with profiled(sender.pid, run.out / "profiles" / f"sender-{endpoints}.txt", enabled=run.args.profile):
                while (n := count_lines(hooks)) < deliveries and time.monotonic() < deadline:
                    bar.update(n - bar.n)
                    time.sleep(0.5)
                bar.update(count_lines(hooks) - bar.n)
    # Records written to the delay topics: retries, and deliveries deferred while their lane was full.
    delayed = sum(sum(end_offsets(settings, t.name).values()) for t in build_topics(settings).webhooks_retry)
    stamps = [when for when, _ in arrivals(hooks)]
    if len(stamps) < 2:
        raise RuntimeError(f"sender ({endpoints}): {len(stamps)} deliveries arrived; see {run.logs}")
    return {
        "endpoints": endpoints,
        "messages": messages,
        "deliveries": len(stamps),
        "expected": deliveries,
        "startup_s": round(min(stamps) - started, 2),
        "drain_s": round(max(stamps) - min(stamps), 2),
        "deliveries_per_s": round((len(stamps) - 1) / (max(stamps) - min(stamps))),
        "delay_topic_records": delayed,
        "series": per_second(stamps),
        "profile": summarize_profile(run.out / "profiles" / f"sender-{endpoints}.txt"),
    }


def sender(run: Any) -> dict[str, Any]:
    return {"1": _case(run, 1), "50": _case(run, 50)}
