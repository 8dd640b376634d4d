"""Custom event bodies checked against their schema's declared fields (docs/domain.md §3). Pure."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

MAX_SAFE_NUMBER = 2**53 - 1  # exact in JSON everywhere, and summable without overflow

FIELD_TYPES = ("text", "number", "datetime", "boolean", "object", "collection")


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


_CHECKS: dict[str, Callable[[Any], bool]] = {
    "text": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
    "datetime": _is_datetime,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "collection": lambda v: isinstance(v, list),
}


def body_problems(
    body: Mapping[str, Any], fields: Iterable[Mapping[str, Any]], *, prefix: str = "body"
) -> list[tuple[str, str]]:
    """(path, message) for every declared field whose value has the wrong type.

    Declared fields may be absent; undeclared keys are kept and ignored.
    """
    problems = []
    for field in fields:
        name, kind = field["name"], field["type"]
        if name not in body or body[name] is None:
            continue
        check = _CHECKS.get(kind)
        if check is not None and not check(body[name]):
            problems.append((f"{prefix}.{name}", f"This value should be of type {kind}."))
    return problems


def value_problems(value: Any, path: str, *, max_string: int = 255, depth: int = 0) -> list[tuple[str, str]]:
    """Limits on any JSON value: strings ≤ max_string chars, finite numbers, bounded nesting."""
    if isinstance(value, str):
        return (
            [(path, f"This value is too long. It should have {max_string} characters or less.")]
            if len(value) > max_string
            else []
        )
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, "This value should be a finite number.")]
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) > MAX_SAFE_NUMBER:
        return [(path, f"This value should be between -{MAX_SAFE_NUMBER} and {MAX_SAFE_NUMBER}.")]
    if depth > 16:
        return [(path, "This value is nested too deeply.")]
    if isinstance(value, dict):
        return [
            p
            for k, v in value.items()
            for p in value_problems(v, f"{path}.{k}", max_string=max_string, depth=depth + 1)
        ]
    if isinstance(value, list):
        return [
            p
            for i, v in enumerate(value)
            for p in value_problems(v, f"{path}[{i}]", max_string=max_string, depth=depth + 1)
        ]
    return []
