"""Validation against the Open Loyalty contract (openloyalty-openapi-subset.json of the shared reference)."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_CANDIDATES = [
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "openloyalty-openapi-subset.json",
    Path(__file__).resolve().parents[4] / "shared" / "reference" / "openloyalty-openapi-subset.json",
    Path("/work/shared/reference/openloyalty-openapi-subset.json"),
]
_URI = "urn:openloyalty"


@cache
def document() -> dict[str, Any]:
    for path in _CANDIDATES:
        if path.exists():
            loaded: dict[str, Any] = json.loads(path.read_text())
            return loaded
    raise FileNotFoundError("the contract openloyalty-openapi-subset.json was not found")


def _absolute(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (_URI + v if k == "$ref" and v.startswith("#") else _absolute(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_absolute(v) for v in node]
    return node


@cache
def _registry() -> Registry:
    return Registry().with_resource(_URI, Resource.from_contents(document(), default_specification=DRAFT202012))


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(_absolute(copy.deepcopy(schema)), registry=_registry())


def component(name: str) -> Draft202012Validator:
    return validator({"$ref": f"#/components/schemas/{name}"})


def webhook(event_name: str) -> Draft202012Validator:
    schema = document()["webhooks"][event_name]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return validator(schema)


def errors(v: Draft202012Validator, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]


def assert_datetimes_have_offsets(node: Any, keys: tuple[str, ...] = ("createdAt", "eventDate")) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k in keys:
                assert isinstance(v, str) and datetime.fromisoformat(v).utcoffset() is not None, (k, v)
            else:
                assert_datetimes_have_offsets(v, keys)
    elif isinstance(node, list):
        for v in node:
            assert_datetimes_have_offsets(v, keys)
