"""Errors of the domain core: what a caller needs to answer 400 with every faulty field."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str  # e.g. "rules[0].completeRule.periodGoal"
    message: str


class LoyaltyError(Exception):
    """The root of every error loyalty-stream raises on purpose: ``except LoyaltyError`` catches ours and
    nothing of a library's. Each subclass keeps the built-in base its callers already catch (ValueError,
    RuntimeError, httpcore.ConnectError)."""


class AchievementInvalid(LoyaltyError, ValueError):
    """An achievement definition that cannot be saved; `errors` lists every faulty field."""

    def __init__(self, errors: tuple[FieldError, ...]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))
        self.errors = errors
