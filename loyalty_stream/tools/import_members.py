"""``loyalty-stream import-members FILE``: members from a CSV or JSON-lines file, registered through the API's
``POST /api/{storeCode}/member/batch`` in batches of up to 1,000, with a progress bar.

- CSV: a header row naming the customer fields (``email``, ``phone``, ``loyaltyCardNumber``, ``firstName``,
  ``lastName``, ``birthDate``, ...); empty cells are left out.
- JSON lines (``.jsonl``/``.ndjson``, or any other name): one customer object per line, as POST /member's
  ``customer``.

Each member is registered exactly as by POST /member (identifiers claimed before it counts as imported). An
item the API could not write (503) is sent again after its Retry-After, up to ``RETRIES`` times; refused
items are reported with their line and errors (``--errors FILE`` keeps all of them as JSON lines). Exit
status 0 when every member was imported, 2 when some were refused.

``PARALLEL`` batches are in flight at once (``--parallel``): a batch's round trip is mostly waiting on the
API, the processor's claims agent and the broker in turn, so one batch at a time leaves each of them idle
most of the time (docs/benchmarks.md, "member import"). The file's order still decides who gets an identifier
given twice: a batch holding an identifier of a batch in flight waits until those are answered, so the earlier
line claims it and the later one is refused, as when batches go one at a time.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from tqdm import tqdm

from loyalty_stream.config.settings import Settings
from loyalty_stream.domain.identity import identifiers_of

BATCH = 1000
RETRIES = 3
PARALLEL = 4


@dataclass
class Report:
    imported: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)  # {"line", "errors"}


def _csv_rows(handle: TextIO) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(handle)
    for row in reader:
        yield reader.line_num, {k: v for k, v in row.items() if k and v not in (None, "")}


def members_of(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, customer object) of every member in the file."""
    with path.open(newline="", encoding="utf-8") as handle:
        if path.suffix.lower() == ".csv":
            yield from _csv_rows(handle)
            return
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, json.loads(line)


def _batches(items: Iterator[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    batch: list[tuple[int, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _send(client: httpx.Client, path: str, key: str, batch: list[tuple[int, Any]]) -> Report:
    """One batch, with its 503 items sent again; its own report (merged by the caller: batches run in threads)."""
    report = Report()
    pending = batch
    for attempt in range(RETRIES + 1):
        response = client.post(path, json={"members": [m for _, m in pending]}, headers={"X-AUTH-TOKEN": key})
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:300]}")
        again: list[tuple[int, Any]] = []
        for (line, member), item in zip(pending, response.json()["items"], strict=True):
            if "customerId" in item:
                report.imported += 1
            elif attempt < RETRIES and any(e.get("code") == "503" for e in item["errors"]):
                again.append((line, member))
            else:
                report.refused.append({"line": line, "errors": item["errors"]})
        if not again:
            return report
        time.sleep(float(response.headers.get("Retry-After", "1")))
        pending = again
    return report


def import_members(
    path: Path,
    *,
    url: str,
    store: str,
    key: str,
    batch: int = BATCH,
    parallel: int = PARALLEL,
    errors: Path | None = None,
) -> Report:
    report = Report()
    total = sum(1 for _ in members_of(path))
    in_flight: dict[Future[Report], set[tuple[str, str]]] = {}  # a batch's identifiers, while it is in flight

    def settle(done: set[Future[Report]]) -> None:
        for future in done:
            del in_flight[future]
            part = future.result()  # a batch the API refused whole (not 200) stops the import here
            report.imported += part.imported
            report.refused.extend(part.refused)
            bar.update(part.imported + len(part.refused))

    with (
        httpx.Client(base_url=url, timeout=120, limits=httpx.Limits(max_connections=parallel)) as client,
        tqdm(total=total, unit="member", desc=f"import {path.name}") as bar,
        ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="import") as pool,
    ):
        for chunk in _batches(members_of(path), batch):
            claims = {found for _, member in chunk if isinstance(member, dict) for found in identifiers_of(member)}
            if any(claims & earlier for earlier in in_flight.values()):
                settle(wait(in_flight).done)  # the earlier lines claim first
            while len(in_flight) >= parallel:
                settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
            in_flight[pool.submit(_send, client, f"/api/{store}/member/batch", key, chunk)] = claims
        settle(wait(in_flight).done)
    report.refused.sort(key=lambda r: r["line"])
    if errors is not None:
        errors.write_text("".join(json.dumps(r) + "\n" for r in report.refused))
    return report


def main(
    settings: Settings,
    path: Path,
    store: str,
    *,
    url: str | None,
    key: str | None,
    errors: Path | None,
    parallel: int = PARALLEL,
) -> int:
    config = settings.store_map.get(store)
    if key is None and config is None:
        raise ValueError(f"unknown store {store!r} (LOYALTY_STORES); pass --api-key")
    key = key or min(config.api_keys)  # type: ignore[union-attr]
    started = time.monotonic()
    report = import_members(
        path,
        url=url or f"http://127.0.0.1:{settings.api_port}",
        store=store,
        key=key,
        parallel=parallel,
        errors=errors,
    )
    seconds = time.monotonic() - started
    print(f"imported {report.imported}, refused {len(report.refused)} in {seconds:.1f}s", flush=True)
    for refused in report.refused[:10]:
        problems = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in refused["errors"])
        print(f"  line {refused['line']}: {problems}", file=sys.stderr)
    return 2 if report.refused else 0
