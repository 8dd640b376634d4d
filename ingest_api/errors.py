"""The API's errors, each carrying what decides the response; one handler maps them to Open Loyalty's shape.

ApiError                      (status, message, errors)
├── BadRequest                400 {"code":400,"message":...,"errors":[{message,parameters,plural,code,path}]}
├── NotAuthenticated          401 {"message":"Authentication Required"}
├── Forbidden                 403 {"code":403,"message":"Forbidden."}
├── NotFound                  404 {"code":404,"message":"Not Found"}
├── MethodNotAllowed          405 {"code":405,"message":"Method Not Allowed."}
├── PayloadTooLarge           413
├── RateLimited               429 + Retry-After
└── BrokerUnavailable         503 + Retry-After

``error_response`` renders any of them; the app's handlers and the request-body guard use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from loyalty_stream.domain.errors import LoyaltyError


@dataclass(frozen=True, slots=True)
class FieldProblem:
    path: str
    message: str
    code: str = "invalid"
    parameters: dict[str, Any] | None = None
    plural: int = 1

    def body(self) -> dict[str, Any]:
        # `plural` is an integer (Symfony's pluralisation count): the contract, read as OpenAPI 3.1,
        # does not allow null there, and an integer is valid under either reading.
        return {
            "message": self.message,
            "parameters": self.parameters or {},
            "plural": self.plural,
            "code": self.code,
            "path": self.path,
        }


class ApiError(LoyaltyError):
    """An answer in Open Loyalty's error shape; a subclass names its status and default message in its header:
    ``class Forbidden(ApiError, status=403, message="Forbidden.")``."""

    status = 500
    message = "Internal Server Error"

    def __init_subclass__(cls, *, status: int | None = None, message: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if message is not None:
            cls.message = message

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        return {"code": self.status, "message": self.message}

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class BadRequest(ApiError, status=400, message="Validation failed"):
    def __init__(self, problems: list[FieldProblem], message: str | None = None) -> None:
        super().__init__(message)
        self.problems = problems

    def body(self) -> dict[str, Any]:
        return {"code": 400, "message": self.message, "errors": [p.body() for p in self.problems]}


def bad_request(path: str, message: str, code: str = "invalid") -> BadRequest:
    return BadRequest([FieldProblem(path, message, code)])


class NotAuthenticated(ApiError, status=401, message="Authentication Required"):
    def body(self) -> dict[str, Any]:
        return {"message": self.message}


class Forbidden(ApiError, status=403, message="Forbidden."):
    pass


class NotFound(ApiError, status=404, message="Not Found"):
    pass


class MethodNotAllowed(ApiError, status=405, message="Method Not Allowed."):
    pass


class PayloadTooLarge(ApiError, status=413, message="Request body too large"):
    pass


class RateLimited(ApiError, status=429, message="Too Many Requests"):
    pass


class BrokerUnavailable(
    ApiError, status=503, message="Service Unavailable: the event store did not acknowledge the write"
):
    def __init__(self, message: str | None = None, *, retry_after: int | None = 5) -> None:
        super().__init__(message, retry_after=retry_after)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers())
