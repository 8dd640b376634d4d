"""Sender phase: a pre-loaded webhooks topic drained by one sender to 1 and to 50 local endpoints."""

from __future__ import annotations

import asyncio
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
    producer,
    profiled,
    summarize_profile,
)
from bench.workload import subscription, webhook_messages
from loyalty_stream.kafka.topics import build_topics
from loyalty_stream.tools.procs import free_port
from schemas.serde import Serde
from webhook_sender.destinations import WebhookClient


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
    return {"1": _case(run, 1), "50": _case(run, 50), "clients": clients_ab(run)}


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
