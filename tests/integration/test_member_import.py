"""POST /api/{storeCode}/member/batch and ``loyalty-stream import-members`` against the real broker, API and
processor: each member claimed like POST /member, results per item in request order."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.contract import response_errors
from tests.support.flows import AUTH, post
from tests.support.stack import Stack

BATCH = "/api/DEFAULT/member/batch"


@pytest.fixture(scope="module")
def members_api(kafka, tmp_path_factory) -> Iterator[tuple[httpx.Client, Stack]]:
    from tests.conftest import settings_for

    settings = settings_for(kafka, tmp_path_factory.mktemp("member-import"))
    s = Stack(settings, tmp_path_factory.mktemp("member-import-logs")).start("api", "processor")
    with httpx.Client(base_url=s.api, timeout=60) as client:
        yield client, s
    s.stop()


def _email(tag: str, n: int) -> str:
    return f"{tag}-{n}@example.com"


def test_batch_registers_each_member_and_answers_per_item_in_order(members_api) -> None:
    client, _stack = members_api
    tag = uuid.uuid4().hex[:8]
    taken = post(client, "/api/DEFAULT/member", {"customer": {"email": _email(tag, 0)}})
    body = {
        "members": [
            {"email": _email(tag, 1), "firstName": "Ann"},
            {"firstName": "Nobody"},  # no identifier
            {"email": _email(tag, 2), "phone": "+48123456789"},
            {"email": _email(tag, 1)},  # the first item's email, within the batch
            {"email": _email(tag, 0)},  # registered before
            "not an object",
        ]
    }
    answer = client.post(BATCH, json=body, headers=AUTH)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert len(items) == 6
    assert items[0]["email"] == _email(tag, 1) and "customerId" in items[0]
    assert items[2]["email"] == _email(tag, 2) and "customerId" in items[2]
    assert [e["path"] for e in items[1]["errors"]] == ["members[1]"]
    assert [(e["path"], e["code"]) for e in items[3]["errors"]] == [("members[3].email", "already_used")]
    assert [(e["path"], e["code"]) for e in items[4]["errors"]] == [("members[4].email", "already_used")]
    assert items[5]["errors"][0]["path"].startswith("members[5]")
    # Read-your-writes: an imported member is there as soon as the batch is answered.
    found = client.get(f"/api/DEFAULT/member/{items[2]['customerId']}", headers=AUTH)
    assert found.status_code == 200 and found.json()["phone"] == "+48123456789"
    assert taken["customerId"] not in {i.get("customerId") for i in items}


@pytest.mark.parametrize(
    ("body", "path"),
    [({"members": []}, "members"), ({"people": [{"email": "a@example.com"}]}, "members"), ([1], "members")],
)
def test_batch_refuses_a_malformed_request_whole(members_api, body, path) -> None:
    client, _stack = members_api
    answer = client.post(BATCH, json=body, headers=AUTH)
    assert answer.status_code == 400
    assert response_errors("/api/{storeCode}/member", "post", 400, answer.json()) == []
    assert path in {e["path"] for e in answer.json()["errors"]}


def test_import_members_cli_imports_a_csv_file_and_reports_refused_lines(members_api, tmp_path: Path) -> None:
    client, stack = members_api
    tag = uuid.uuid4().hex[:8]
    source = tmp_path / "members.csv"
    with source.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "firstName", "loyaltyCardNumber"])
        for n in range(2500):
            writer.writerow([_email(tag, n), f"M{n}", ""])
        writer.writerow(["", "No identifier", ""])  # line 2502
        # Line 2503: taken by line 9 (as matched: case-folded), in a batch sent while that one may be in flight.
        writer.writerow([_email(tag, 7).upper(), "Twice", ""])
    errors = tmp_path / "refused.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "loyalty_stream.tools.cli", "import-members", str(source), "--errors", str(errors)],
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 2, done.stderr
    assert "imported 2500, refused 2" in done.stdout
    refused = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [(r["line"], r["errors"][0]["code"]) for r in refused] == [(2502, "value_error"), (2503, "already_used")]
    listed = client.get("/api/DEFAULT/member", params={"email": _email(tag, 2499)}, headers=AUTH)
    assert listed.status_code == 200 and listed.json()["items"][0]["firstName"] == "M2499"
