"""Validation against Open Loyalty's contract (../shared/reference/openloyalty-openapi-subset.json)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parents[2]
CONTRACT_CANDIDATES = [
    ROOT / "docs" / "reference" / "openloyalty-openapi-subset.json",
    ROOT.parent / "shared" / "reference" / "openloyalty-openapi-subset.json",
]
URN = "urn:openloyalty-contract"


@cache
def contract() -> dict[str, Any]:
    for path in CONTRACT_CANDIDATES:
        if path.exists():
            return json.loads(path.read_text())
    raise FileNotFoundError(
        "the Open Loyalty contract is missing; expected docs/reference/openloyalty-openapi-subset.json"
    )


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@cache
def _registry() -> Registry:
    return Registry().with_resource(URN, Resource.from_contents(contract(), default_specification=DRAFT202012))


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{URN}#/{pointer}"}, registry=_registry())


def webhook_errors(event_name: str, body: Any) -> list[str]:
    pointer = _pointer("webhooks", event_name, "post", "requestBody", "content", "application/json", "schema")
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(pointer).iter_errors(body)]


def response_errors(path: str, method: str, status: int, body: Any) -> list[str]:
    """Errors of a response body against the contract's schema for (path, method, status)."""
    operation = contract()["paths"][path][method.lower()]
    response = operation["responses"][str(status)]
    pointer = _pointer("paths", path, method.lower(), "responses", str(status))
    if "$ref" in response:
        pointer = response["$ref"].removeprefix("#/")
        response = contract()
        for part in pointer.split("/"):
            response = response[part]
    if "content" not in response:
        return [] if body in (None, b"", "") else ["the contract says no content"]
    schema_pointer = pointer + "/" + _pointer("content", "application/json", "schema")
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _validator(schema_pointer).iter_errors(body)]
