"""Run schemathesis (its CLI, in a child process) against a running ingest API and read its report.

Two targets:

- **ours**: ``GET /openapi.json`` of the API. Every status an operation answers must be listed and every
  response must match its schema: checks ``not_a_server_error``, ``status_code_conformance``,
  ``content_type_conformance``, ``response_headers_conformance``, ``response_schema_conformance``.
- **contract**: Open Loyalty's paths (``docs/reference/openloyalty-openapi-subset.json``) against the same
  API: checks ``not_a_server_error``, ``content_type_conformance``, ``response_schema_conformance``, with
  exactly the deviations ``docs/reference/README.md`` allows patched into the schema first
  (``contract_with_deviations``; one comment per patch). Statuses the contract does not list (e.g. a 400
  on a listing it documents without one) are not failures here; their bodies are still checked against
  our own OpenAPI by the first target.

Both send ``X-AUTH-TOKEN: dev-key`` and use store ``DEFAULT``; identifiers in paths are those of data
``seed`` created first (one per kind; DELETEs get their own victims), so GETs return real items.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from loyalty_stream.tools.procs import wait_until
from tests.support.contract import contract
from tests.support.flows import APP_LOGIN_SCHEMA, AUTH, LOGIN_STREAK, login_event, post

OURS_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
CONTRACT_CHECKS = ("not_a_server_error", "content_type_conformance", "response_schema_conformance")

_ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}


def contract_with_deviations() -> dict[str, Any]:
    """The contract with the deviations of docs/reference/README.md written in, and nothing else."""
    schema = copy.deepcopy(contract())
    # Deviation: "GET /customEvent… types `body` as an array of string-valued maps; we return the body
    # object as it was received (numbers stay numbers)". The one allowed deviation on those paths.
    schema["components"]["schemas"]["CustomEvent"]["properties"]["body"] = {"type": "object"}
    # Deviation: "Statuses the contract does not list but we need: 413 (body too large), 429 (rate
    # limited, with Retry-After), 503 (broker unavailable, with Retry-After); all with Open Loyalty's
    # error shape". Listed on every operation, so their bodies are checked too.
    extra = {
        "413": {"description": "Request body too large.", "content": {"application/json": {"schema": _ERROR}}},
        "429": {"description": "Too many requests.", "content": {"application/json": {"schema": _ERROR}}},
        "503": {"description": "Event store unavailable.", "content": {"application/json": {"schema": _ERROR}}},
    }
    for operations in schema["paths"].values():
        for method, operation in operations.items():
            if method in ("get", "put", "post", "patch", "delete"):
                for status, response in extra.items():
                    operation["responses"].setdefault(status, response)
    # Deviation (docs/api.md, "Transactions"): the contract's GET /transaction answer is a oneOf of two shapes
    # that require nothing, so every answer matches both and fails it; read as anyOf.
    listing = schema["paths"]["/api/{storeCode}/transaction"]["get"]["responses"]["200"]["content"]["application/json"]
    listing["schema"] = {"anyOf": listing["schema"].pop("oneOf")}
    # The other deviations of that list are about requests (accepted leniently: activity {"operator": ""},
    # eventDate without an offset, schema {} without fields) or webhook bodies (trigger.eventId,
    # periodGoal), not about HTTP responses: nothing to patch for them.
    return schema


@dataclass
class Seeded:
    """Identifiers of the data ``seed`` created in store DEFAULT."""

    achievement: str
    customer: str
    victim_customer: str
    custom_event: str
    subscription: str
    victim_subscription: str
    transaction: str
    event_type: str = "app_login"

    def parameters(self) -> dict[str, str]:
        return {
            "storeCode": "DEFAULT",
            "achievement": self.achievement,
            "member": self.customer,
            "customEvent": self.custom_event,
            "customEventSchema": self.event_type,
            "eventType": self.event_type,
            "webhookSubscription": self.subscription,
            "transaction": self.transaction,
        }

    def delete_parameters(self) -> dict[str, str]:
        return {**self.parameters(), "member": self.victim_customer, "webhookSubscription": self.victim_subscription}


def seed(client: httpx.Client, *, timeout: float = 60.0) -> Seeded:
    """A schema, an achievement, two members, two subscriptions, a counted event and a transaction (the processor
    must run)."""
    post(client, "/api/DEFAULT/customEvent/schema", APP_LOGIN_SCHEMA, expect=204)
    achievement = post(client, "/api/DEFAULT/achievement", LOGIN_STREAK)["achievementId"]
    customer = post(client, "/api/DEFAULT/member", {"customer": {"email": "fuzz@example.com", "firstName": "F"}})
    victim = post(client, "/api/DEFAULT/member", {"customer": {"email": "victim@example.com"}})
    subscriptions = [
        post(
            client,
            "/api/DEFAULT/webhook/subscription",
            {"webhookSubscription": {"eventName": "AchievementsWereProcessed", "url": f"http://127.0.0.1:9/{n}"}},
        )["webhookSubscriptionId"]
        for n in ("keep", "victim")
    ]
    event = post(client, "/api/DEFAULT/customEvent", login_event("fuzz@example.com", event_id=f"fuzz-{uuid.uuid4()}"))

    def listed() -> bool:
        return client.get(f"/api/DEFAULT/customEvent/{event['customEventId']}", headers=AUTH).status_code == 200

    purchase = {
        "header": {"documentNumber": f"fuzz-{uuid.uuid4()}", "purchasedAt": "2024-05-01T10:00:00Z"},
        "items": [{"sku": "S", "name": "Item", "grossValue": 10, "category": "c", "quantity": 1}],
        "customerData": {"email": "fuzz@example.com"},
    }
    transaction = post(client, "/api/DEFAULT/transaction", {"transaction": purchase})["transactionId"]

    def decided() -> bool:
        url = f"/api/DEFAULT/transaction/{transaction}"
        return listed() and client.get(url, headers=AUTH).status_code == 200

    wait_until(decided, timeout=timeout, what="the seeded event and transaction to be decided", interval=0.2)
    return Seeded(
        achievement=achievement,
        customer=customer["customerId"],
        victim_customer=victim["customerId"],
        custom_event=event["customEventId"],
        subscription=subscriptions[0],
        victim_subscription=subscriptions[1],
        transaction=transaction,
    )


@dataclass
class Budget:
    max_examples: int = 10
    seed: int = 1
    phases: str = "examples,coverage,fuzzing"
    max_time: int | None = None  # seconds; with it, fuzzing repeats until the time is spent
    workers: int = 2
    timeout: float = 600.0  # hard deadline of the child process


@dataclass
class Outcome:
    name: str
    exit_code: int
    report: dict[str, Any]
    output: str
    seconds: float
    command: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return list(self.report.get("failures", []))

    @property
    def errors(self) -> list[dict[str, Any]]:
        return list(self.report.get("errors", []))

    @property
    def api_errors(self) -> list[dict[str, Any]]:
        """Errors but schemathesis' "Runtime Error"s: those are its generator failing (seen with several
        workers), not an answer of the API. An API that crashed, hung or reset connections shows up as a
        failure or a network error."""
        return [e for e in self.errors if e.get("title") != "Runtime Error"]

    @property
    def ok(self) -> bool:
        operations = self.report.get("operations", {})
        tested = operations.get("tested") == operations.get("total")
        return not self.failures and not self.api_errors and tested and "failures" in self.report

    def summary(self) -> str:
        cases = self.report.get("test_cases", {})
        ops = self.report.get("operations", {})
        return (
            f"{self.name}: {ops.get('tested', 0)}/{ops.get('total', 0)} operations, "
            f"{cases.get('generated', 0)} cases, {cases.get('unique_failures', 0)} unique failures, "
            f"{len(self.errors)} errors in {self.seconds:.0f}s (exit {self.exit_code}, seed {self.report.get('seed')})"
        )

    def details(self) -> str:
        """The FAILURES/ERRORS part of schemathesis' output (with curl commands to reproduce)."""
        text = self.output
        start = min((i for i in (text.find("= FAILURES ="), text.find("= ERRORS =")) if i >= 0), default=0)
        return text[max(0, start - 40) :]


def _toml(value: Any) -> str:
    return json.dumps(value)  # a JSON string or number is a TOML one too


def write_config(path: Path, seeded: Seeded, headers: dict[str, str]) -> Path:
    lines = ["[parameters]"]
    lines += [f"{_toml(k)} = {_toml(v)}" for k, v in seeded.parameters().items()]
    lines += ["", "[headers]"]
    lines += [f"{_toml(k)} = {_toml(v)}" for k, v in headers.items()]
    # DELETEs remove their own victims, so the seeded member and subscription stay for the other operations.
    lines += ["", "[[operations]]", 'include-method = "DELETE"', "", "[operations.parameters]"]
    lines += [f"{_toml(k)} = {_toml(v)}" for k, v in seeded.delete_parameters().items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(
    name: str,
    location: str,
    base_url: str,
    seeded: Seeded,
    workdir: Path,
    checks: tuple[str, ...],
    budget: Budget,
    headers: dict[str, str] | None = None,
) -> Outcome:
    """One schemathesis run; its JSON report, its output and how long it took."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir / "schemathesis.toml", seeded, headers or AUTH)
    report = workdir / "report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        location,
        "--url",
        base_url,
        "--checks",
        ",".join(checks),
        "--phases",
        budget.phases,
        "--max-examples",
        str(budget.max_examples),
        "--seed",
        str(budget.seed),
        "--workers",
        str(budget.workers),
        "--no-shrink",
        "--request-timeout",
        "30",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--warnings",
        "off",
    ]
    if budget.max_time:
        command += ["--max-time", str(budget.max_time)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=budget.timeout, cwd=workdir)
    seconds = time.monotonic() - started
    output = done.stdout + done.stderr
    (workdir / "output.txt").write_text(output)
    data = json.loads(report.read_text()) if report.exists() else {"errors": [{"title": "No report"}]}
    return Outcome(name, done.returncode, data, output, seconds, command)


def run_both(base_url: str, seeded: Seeded, workdir: Path, budget: Budget) -> list[Outcome]:
    """Our OpenAPI, then the contract (patched with its allowed deviations) against the same API."""
    contract_file = workdir / "contract-with-deviations.json"
    workdir.mkdir(parents=True, exist_ok=True)
    contract_file.write_text(json.dumps(contract_with_deviations(), indent=1))
    return [
        run("ours", f"{base_url}/openapi.json", base_url, seeded, workdir / "ours", OURS_CHECKS, budget),
        run("contract", str(contract_file), base_url, seeded, workdir / "contract", CONTRACT_CHECKS, budget),
    ]
