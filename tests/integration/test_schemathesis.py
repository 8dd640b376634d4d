"""schemathesis against a real API (with processor and sender, broker up): our own OpenAPI and Open Loyalty's
contract. No 5xx, every response as its schema says (the contract: beyond its documented deviations, see
``tests.fuzz.runner.contract_with_deviations``). A short, bounded pass; ``python -m tests.fuzz`` runs longer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import settings_for
from tests.fuzz.runner import CONTRACT_CHECKS, OURS_CHECKS, Budget, Outcome, Seeded, contract_with_deviations, run, seed
from tests.support.stack import Stack

# Bounded for `make test`: 10 cases per operation and phase, one worker (schemathesis' own generator
# has raised internal errors with several), each run cut off at 5 minutes at worst.
BUDGET = Budget(max_examples=10, seed=20240501, phases="examples,coverage,fuzzing", workers=1, timeout=300)


@pytest.fixture(scope="module")
def target(kafka, tmp_path_factory) -> Iterator[tuple[str, Seeded, Path]]:
    settings = settings_for(kafka, tmp_path_factory.mktemp("fuzz"))
    stack = Stack(settings, tmp_path_factory.mktemp("fuzz-logs")).start("api", "processor", "sender")
    try:
        with httpx.Client(base_url=stack.api, timeout=30) as client:
            seeded = seed(client)
        yield stack.api, seeded, tmp_path_factory.mktemp("schemathesis")
    finally:
        stack.stop()


def _judge(outcome: Outcome) -> None:
    print(outcome.summary())
    assert outcome.ok, f"{outcome.summary()}\n{outcome.details()}"


def test_our_openapi(target) -> None:
    base_url, seeded, workdir = target
    _judge(run("ours", f"{base_url}/openapi.json", base_url, seeded, workdir / "ours", OURS_CHECKS, BUDGET))


def test_the_contract(target) -> None:
    base_url, seeded, workdir = target
    schema = workdir / "contract-with-deviations.json"
    schema.write_text(json.dumps(contract_with_deviations()))
    _judge(run("contract", str(schema), base_url, seeded, workdir / "contract", CONTRACT_CHECKS, BUDGET))


def test_the_deviations_patched_are_exactly_the_documented_ones() -> None:
    from tests.support.contract import contract

    original, patched = contract(), contract_with_deviations()
    assert original["components"]["schemas"]["CustomEvent"]["properties"]["body"]["type"] == "array"
    assert patched["components"]["schemas"]["CustomEvent"]["properties"]["body"] == {"type": "object"}
    changed = []
    for path, operations in patched["paths"].items():
        for method, operation in operations.items():
            before = original["paths"][path][method]
            added = set(operation.get("responses", {})) - set(before.get("responses", {}))
            assert added <= {"413", "429", "503"}, (method, path, added)
            changed += [k for k in operation if k != "responses" and operation[k] != before[k]]
            changed += [(path, method, s) for s, r in before["responses"].items() if operation["responses"][s] != r]
    listing = original["paths"]["/api/{storeCode}/transaction"]["get"]["responses"]["200"]["content"]
    assert changed == [("/api/{storeCode}/transaction", "get", "200")]  # the oneOf read as anyOf, nothing else
    assert "oneOf" in listing["application/json"]["schema"]
    assert {k: v for k, v in patched["components"].items() if k != "schemas"} == {
        k: v for k, v in original["components"].items() if k != "schemas"
    }
    others = {k: v for k, v in patched["components"]["schemas"].items() if k != "CustomEvent"}
    assert others == {k: v for k, v in original["components"]["schemas"].items() if k != "CustomEvent"}
