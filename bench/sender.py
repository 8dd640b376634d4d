"""Sender phase: a pre-loaded webhooks topic drained by one sender to 1 and to 50 local endpoints."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from typing import Any

import httpx
from tqdm import tqdm

from bench.harness import (
    Procs,
    arrivals,
    count_lines,
    end_offsets,
    load_control_plane,
    per_second,
    percentiles,
    producer,
    profiled,
    summarize_profile,
)
from bench.workload import subscription, webhook_messages
from loyalty_stream.kafka.client import admin
from loyalty_stream.kafka.health import group_is_active
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import free_port, wait_until
from schemas.serde import Serde
from webhook_sender.destinations import WebhookClient


def _case(run: Any, endpoints: int, senders: int = 1) -> dict[str, Any]:
    """``endpoints`` subscriptions of one store, each its own destination (127.0.0.k: its own connection pool).
    Every message fans out to all of them, so deliveries = messages × endpoints. ``senders`` processes share the
    webhooks topic's partitions in one consumer group (the scale-out story)."""
    settings = run.settings(f"sender{endpoints}x{senders}." if senders > 1 else f"sender{endpoints}.")
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
        for n in range(1, senders):  # each its own health/metrics port
            argv = [sys.executable, "-m", "webhook_sender"]
            procs.start(f"sender{n + 1}", argv, LOYALTY_SENDER_PORT=str(free_port()))
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
        "senders": senders,
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
    return {
        "1": _case(run, 1),
        "50": _case(run, 50),
        "50x2": _case(run, 50, senders=2),
        "isolation": {"healthy": _isolation(run, hanging=False), "one_hanging": _isolation(run, hanging=True)},
        "clients": clients_ab(run),
    }


# -- isolation (issue 14: a dead endpoint beside 49 healthy ones costs them at most 1.5x their p99) ----------

ISOLATION_RATE = 20.0  # messages/s, each to 50 subscriptions: 1,000 deliveries/s offered
ISOLATION_SECONDS = 25.0
ISOLATION_WARMUP = 5.0  # seconds of the offered load not measured (the sender's first connections)


def _hang_forever(port: int, host: str) -> threading.Event:
    """An endpoint that accepts connections and never answers (in a thread of this process); set the event
    to stop it."""
    stop, up = threading.Event(), threading.Event()

    async def serve() -> None:
        held: list[asyncio.StreamWriter] = []

        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held.append(writer)  # read nothing, answer nothing

        server = await asyncio.start_server(accept, host, port)
        up.set()
        while not stop.is_set():
            await asyncio.sleep(0.2)
        server.close()
        for writer in held:
            writer.close()

    threading.Thread(target=lambda: asyncio.run(serve()), name="hanging-endpoint", daemon=True).start()
    up.wait(10)
    return stop


def _isolation(run: Any, *, hanging: bool) -> dict[str, Any]:
    """50 subscriptions, messages offered at a steady rate; with ``hanging`` one of them is an endpoint that
    never answers. Latency of each healthy delivery: its arrival minus its message's produce time, for the
    messages after the first ISOLATION_WARMUP seconds."""
    name = "isolation-hanging" if hanging else "isolation-healthy"
    settings = run.settings(f"{name}.")
    port, dead_port = free_port(), free_port()
    hosts = [f"127.0.0.{k}" for k in range(1, 51)]
    urls = [f"http://{host}:{port}/hook/{k}" for k, host in enumerate(hosts)]
    if hanging:
        urls[-1] = f"http://127.0.0.51:{dead_port}/hook/dead"
    load_control_plane(settings, [], [subscription("DEFAULT", k, url) for k, url in enumerate(urls)])
    count = int(ISOLATION_RATE * ISOLATION_SECONDS)
    healthy = 49 if hanging else 50
    hooks = run.out / f"sender-{name}-hooks.txt"
    hooks.unlink(missing_ok=True)
    topic, serde, p = build_topics(settings).webhooks.name, Serde(), producer(settings, **{"linger.ms": 0})
    members = [m for m in run.people if m[0] == "DEFAULT"]
    produced: dict[str, float] = {}
    stop = _hang_forever(dead_port, "127.0.0.51") if hanging else None
    try:
        with Procs(settings, run.logs / f"sender-{name}") as procs:
            procs.receiver(hooks, port, hosts[:healthy])
            procs.service("sender", "webhook_sender")
            wait_until(lambda: group_is_active(admin(settings), settings.sender_group), timeout=120,
                       what="the sender to join its group", interval=0.2)  # fmt: skip
            print(f"sender isolation ({'one hanging' if hanging else 'all healthy'}): {count} messages at "
                  f"{ISOLATION_RATE:g}/s to 50 subscriptions")  # fmt: skip
            start = time.time() + 0.5
            for n, (key, record) in enumerate(webhook_messages(count, members, run.args.seed)):
                time.sleep(max(0.0, start + n / ISOLATION_RATE - time.time()))
                p.produce(topic, key=key, value=serde.encode("WebhookMessage", record))
                produced[f"bench-webhook-{run.args.seed}-{n}"] = time.time()
                p.poll(0)
            p.flush(30)
            deadline = time.monotonic() + 120
            while count_lines(hooks) < count * healthy and time.monotonic() < deadline:
                time.sleep(0.5)
    finally:
        if stop is not None:
            stop.set()
    measured = {f"bench-webhook-{run.args.seed}-{n}" for n in range(int(ISOLATION_RATE * ISOLATION_WARMUP), count)}
    latencies = [1000 * (when - produced[e]) for when, e in arrivals(hooks) if e in measured]
    return {
        "endpoints": 50,
        "hanging": 1 if hanging else 0,
        "messages": count,
        "warmup_s": ISOLATION_WARMUP,
        "expected_healthy_deliveries": len(measured) * healthy,
        "healthy_deliveries": len(latencies),
        "latency_ms": percentiles(latencies),
    }


# -- the HTTP client A/B (issue 14: httpx stays unless another client is at least 2x faster, same run) --------

AB_BODY = (
    b'{"messageId":"m","requestId":"r","eventName":"MemberAchievementProgressWasChanged","data":{"x":"' + b"y" * 400
)
AB_BODY += b'"}}'
AB_HEADERS = {"Content-Type": "application/json", "User-Agent": "bench", "webhook-id": "m", "webhook-timestamp": "0"}


async def _post_all(post: Any, urls: list[str], count: int, per_endpoint: int) -> None:
    """``count`` POSTs spread over ``urls``, ``per_endpoint`` in flight to each (the sender's default lanes)."""
    gates = {url: asyncio.Semaphore(per_endpoint) for url in urls}

    async def one(i: int) -> None:
        url = urls[i % len(urls)]
        async with gates[url]:
            status = await post(url)
            assert 200 <= status < 300, status

    await asyncio.gather(*(one(i) for i in range(count)))


async def _httpx(urls: list[str], count: int, per_endpoint: int) -> None:
    # A client (a connection pool) per endpoint, as the sender had it before (one shared httpcore pool scans
    # every connection on every request, and broke with ReadErrors at 400 connections here).
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=4 * per_endpoint)
    clients = {url: httpx.AsyncClient(limits=limits, trust_env=False, follow_redirects=False) for url in urls}

    async def post(url: str) -> int:
        return (await clients[url].post(url, content=AB_BODY, headers=AB_HEADERS)).status_code

    try:
        await _post_all(post, urls, count, per_endpoint)
    finally:
        for client in clients.values():
            await client.aclose()


async def _aiohttp(settings: Any, urls: list[str], count: int, per_endpoint: int) -> None:
    client = WebhookClient(settings)  # the sender's own

    async def post(url: str) -> int:
        return (await client.post(url, AB_BODY, AB_HEADERS)).status

    try:
        await _post_all(post, urls, count, per_endpoint)
    finally:
        await client.aclose()


def clients_ab(run: Any) -> dict[str, Any]:
    """The same POSTs to the bench receiver (1 and 50 loopback endpoints) from httpx and from the sender's
    aiohttp client, in this process: requests/s and this process's CPU per request."""
    settings = run.settings("clients.").model_copy(update={"webhook_allow_loopback": True})
    count, per_endpoint = max(2_000, run.args.sender_deliveries // 4), settings.webhook_endpoint_concurrency
    port, hosts = free_port(), [f"127.0.0.{k}" for k in range(1, 51)]
    out: dict[str, Any] = {"requests": count, "in_flight_per_endpoint": per_endpoint}
    with Procs(settings, run.logs / "clients") as procs:
        procs.receiver(run.out / "clients-hooks.txt", port, hosts)
        for endpoints in (1, 50):
            urls = [f"http://{host}:{port}/hook" for host in hosts[:endpoints]]
            for name in ("httpx", "aiohttp"):
                cpu, wall = time.process_time(), time.perf_counter()
                if name == "httpx":
                    asyncio.run(_httpx(urls, count, per_endpoint))
                else:
                    asyncio.run(_aiohttp(settings, urls, count, per_endpoint))
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                out[f"{name} {endpoints}"] = {"per_s": round(count / wall), "cpu_us": round(1e6 * cpu / count, 1)}
                print(f"clients: {name} to {endpoints} endpoint(s):", out[f"{name} {endpoints}"])
    return out
