"""One error root: every exception class the project defines derives from ``LoyaltyError``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from ingest_api.errors import ApiError, BadRequest
from loyalty_stream.domain import AchievementInvalid, FieldError, LoyaltyError
from schemas.serde import DecodeError
from webhook_sender.destinations import DestinationRefused

PACKAGES = ("loyalty_stream", "ingest_api", "processors", "webhook_sender", "schemas")
# Raised and caught inside the compiled domain core's parsing, never past it (mypyc's native classes
# cannot derive from an interpreted class); parse_achievement turns them into AchievementInvalid.
INTERNAL = {"loyalty_stream.domain.conditions.ConditionError", "loyalty_stream.domain.conditions.UnknownAttribute",
            "loyalty_stream.domain.condition_data.DataError"}  # fmt: skip


def defined_exceptions() -> set[type[BaseException]]:
    found = set()
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            if info.name.endswith(("__main__", "compile_domain")):
                continue
            module = importlib.import_module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, BaseException) and cls.__module__ == info.name:
                    found.add(cls)
    return found


def test_every_error_of_ours_has_the_one_root() -> None:
    classes = defined_exceptions()
    assert len(classes) > 10
    strays = {f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, LoyaltyError)}
    assert strays == INTERNAL


def test_errors_keep_the_bases_callers_catch() -> None:
    assert issubclass(DecodeError, ValueError) and issubclass(AchievementInvalid, ValueError)
    assert issubclass(DestinationRefused, OSError)  # aiohttp wraps what its resolver raises only if it is one
    assert issubclass(BadRequest, ApiError)
    error = AchievementInvalid((FieldError("rules[0]", "This value should not be blank."),))
    assert str(error) == "rules[0]: This value should not be blank."
