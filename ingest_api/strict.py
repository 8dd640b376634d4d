"""The JSON limits of docs/domain.md §4 on free-form request values (event bodies, achievement
definitions, members' extra fields), as the API's field problems; and dates as the contract writes them.

The limits themselves are the domain's (``loyalty_stream/domain/validation.py``), so the API and the
processor refuse the same things. The body guard already refused what is not strict JSON (NaN,
Infinity, 1e400, lone surrogates); what is checked here is what strict JSON still allows.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any
from zoneinfo import ZoneInfo

from ingest_api.errors import FieldProblem
from loyalty_stream.domain import parse_event_date, validation

MAX_SAFE_INTEGER = validation.MAX_SAFE_NUMBER
_RFC3339 = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def field_problems(problems: list[validation.Problem], prefix: str) -> list[FieldProblem]:
    """The domain's problems as the API's, their paths under ``prefix`` (e.g. ``event``)."""
    return [FieldProblem(f"{prefix}.{p.path}" if prefix and p.path else p.path or prefix, p.message, p.code)
            for p in problems]  # fmt: skip


def json_problems(
    value: Any, path: str, *, long_text: Collection[str] = (), long_text_max: int = 4096
) -> list[FieldProblem]:
    """Every place in ``value`` that breaks a limit, with its path from the request root."""
    return field_problems(validation.json_problems(value, path, long_text=long_text, long_text_max=long_text_max), "")


def rfc3339(value: Any, tz: ZoneInfo) -> str | None:
    """``value`` as an RFC 3339 date-time (the contract's ``format: date-time``): as it is if it already is
    one, else parsed (a date alone is midnight; no offset = store time) and rendered; None if unparsable."""
    if isinstance(value, str) and _RFC3339.match(value):
        return value  # the fast path: what this API writes (lists render every member's dates)
    try:
        return parse_event_date(value, tz).isoformat()
    except ValueError:
        return None
