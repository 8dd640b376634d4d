"""Error responses listed in our OpenAPI, in Open Loyalty's shapes."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
}
_BAD_REQUEST = {
    "type": "object",
    "required": ["code", "message", "errors"],
    "properties": {
        "code": {"type": "integer"},
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["message", "parameters", "plural", "code", "path"],
                "properties": {
                    "message": {"type": "string"},
                    "parameters": {},
                    "plural": {"type": ["integer", "null"]},
                    "code": {"type": "string"},
                    "path": {"type": "string"},
                },
            },
        },
    },
}
_UNAUTHORIZED = {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}}


def _json(description: str, schema: dict[str, Any], retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if retry_after:
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}
    return response


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _json("Bad request.", _BAD_REQUEST),
    401: _json("Unauthorized", _UNAUTHORIZED),
    403: _json("Forbidden.", _ERROR),
    413: _json("Request body too large.", _ERROR),
    429: _json("Too many requests.", _ERROR, retry_after=True),
    503: _json("The event store is unavailable; nothing was stored.", _ERROR, retry_after=True),
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: _json("Not found.", _ERROR)}
