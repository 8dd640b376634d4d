"""``registration``: ``POST /member`` against the API and a processor (whose claims agent decides each one),
sequentially and from 50 concurrent clients; latency from the request to its 200 (the identifiers claimed)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import orjson

from bench.harness import Procs, exchange, load_control_plane, percentiles, post_request, profiled, summarize_profile
from bench.workload import member_ids
from loyalty_stream.tools.import_members import import_members
from loyalty_stream.tools.procs import wait_until

KEY = {"X-AUTH-TOKEN": "dev-key"}
PATH = "/api/DEFAULT/member"


def _customer(tag: str, n: int) -> dict[str, str]:
    return {"firstName": "Bench", "lastName": f"M{n}", "email": f"{tag}-{n}@example.com"}


def _body(tag: str, n: int) -> bytes:
    return orjson.dumps({"customer": _customer(tag, n)})


async def _register(port: int, tag: str, numbers: range, took: list[float], failed: list[str]) -> None:
    """One client: a keep-alive connection, one registration after another."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for n in numbers:
            request = post_request("127.0.0.1", PATH, _body(tag, n), KEY)
            started = time.perf_counter()
            status, body = await exchange(reader, writer, request)
            if status != 200:
                failed.append(f"{status} {body[:120]!r}")
                continue
            took.append((time.perf_counter() - started) * 1000)
    finally:
        writer.close()


async def _round(port: int, clients: int, count: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    took: list[float] = []
    failed: list[str] = []
    per = count // clients
    started = time.perf_counter()
    await asyncio.gather(*(_register(port, tag, range(i * per, (i + 1) * per), took, failed) for i in range(clients)))
    seconds = time.perf_counter() - started
    return {
        "clients": clients,
        "registrations": len(took),
        "failed": len(failed),
        "first_failure": failed[0] if failed else None,
        "per_s": round(len(took) / seconds, 1),
        "latency_ms": percentiles(took, (50, 95, 99)),
    }


def _import(run: Any, url: str, count: int) -> dict[str, Any]:
    """``loyalty-stream import-members`` of a JSON-lines file: batches of 1,000 through POST /member/batch."""
    tag = uuid.uuid4().hex[:8]
    source = run.logs / "registration" / "members.jsonl"
    source.write_bytes(b"".join(orjson.dumps(_customer(tag, n)) + b"\n" for n in range(count)))
    started = time.perf_counter()
    report = import_members(source, url=url, store="DEFAULT", key=KEY["X-AUTH-TOKEN"])
    seconds = time.perf_counter() - started
    return {"members": report.imported, "refused": len(report.refused), "per_s": round(report.imported / seconds)}


def registration(run: Any) -> dict[str, Any]:
    settings = run.settings("registration.")
    load_control_plane(settings, member_ids(10, run.args.seed))
    with Procs(settings, run.logs / "registration") as procs:
        procs.service("api", "ingest_api")
        procs.service("processor", "processors")
        url = f"http://127.0.0.1:{settings.api_port}"

        def registers() -> bool:  # the API up and the claims agent answering
            try:
                answer = httpx.post(
                    url + PATH, content=_body("warmup", 0), headers={**KEY, "Content-Type": "application/json"}
                )
                return answer.status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(registers, timeout=180, what="the API and the claims agent to register a member", interval=0.5)
        port = settings.api_port
        asyncio.run(_round(port, 1, 50))  # warm-up, unmeasured
        result = {
            "sequential": asyncio.run(_round(port, 1, run.args.registrations // 4)),
            "concurrent": asyncio.run(_round(port, 50, run.args.registrations)),
        }
        # The import keeps the processor's claims agent busy (its main thread ~90 % of a core on 2026-12-06):
        # its profile says where a member's cost goes.
        profile = run.out / "profiles" / "registration-import.txt"
        with profiled(procs.running["processor"].pid, profile, enabled=run.args.profile):
            result["import"] = _import(run, url, run.args.registrations * 10)
    result["import"]["profile"] = summarize_profile(profile)
    return result
