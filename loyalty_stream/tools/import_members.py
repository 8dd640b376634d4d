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
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx
from tqdm import tqdm

from loyalty_stream.config.settings import Settings

BATCH = 1000
RETRIES = 3


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


def _send(client: httpx.Client, path: str, key: str, batch: list[tuple[int, Any]], report: Report) -> None:
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
            return
        time.sleep(float(response.headers.get("Retry-After", "1")))
        pending = again


def import_members(
    path: Path, *, url: str, store: str, key: str, batch: int = BATCH, errors: Path | None = None
) -> Report:
    report = Report()
    total = sum(1 for _ in members_of(path))
    with (
        httpx.Client(base_url=url, timeout=120) as client,
        tqdm(total=total, unit="member", desc=f"import {path.name}") as bar,
    ):
        for chunk in _batches(members_of(path), batch):
            _send(client, f"/api/{store}/member/batch", key, chunk, report)
            bar.update(len(chunk))
    if errors is not None:
        errors.write_text("".join(json.dumps(r) + "\n" for r in report.refused))
    return report


def main(settings: Settings, path: Path, store: str, *, url: str | None, key: str | None, errors: Path | None) -> int:
    config = settings.store_map.get(store)
    if key is None and config is None:
        raise ValueError(f"unknown store {store!r} (LOYALTY_STORES); pass --api-key")
    key = key or min(config.api_keys)  # type: ignore[union-attr]
    started = time.monotonic()
    report = import_members(
        path, url=url or f"http://127.0.0.1:{settings.api_port}", store=store, key=key, errors=errors
    )
    seconds = time.monotonic() - started
    print(f"imported {report.imported}, refused {len(report.refused)} in {seconds:.1f}s", flush=True)
    for refused in report.refused[:10]:
        problems = "; ".join(f"{e.get('path')}: {e.get('message')}" for e in refused["errors"])
        print(f"  line {refused['line']}: {problems}", file=sys.stderr)
    return 2 if report.refused else 0
