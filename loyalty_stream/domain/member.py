"""A member's state (progress on every achievement + the log of applied events) and what
processing one event yields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .applied import Applied, AppliedLog
from .outcomes import ACHIEVEMENTS_PROCESSED, PROGRESS_CHANGED, REASONS, Outcome, WebhookOutput
from .progress import AchievementProgress

__all__ = [
    "ACHIEVEMENTS_PROCESSED",
    "PROGRESS_CHANGED",
    "REASONS",
    "Applied",
    "AppliedLog",
    "MemberState",
    "Outcome",
    "ProcessResult",
    "ProgressMap",
    "WebhookOutput",
    "prune",
]


class ProgressMap(Mapping[str, AchievementProgress]):
    """Progress by achievementId, parsed on first access: an event touches the few achievements that listen
    to it, so the rest of a member's progress stays in its stored form and is written back as it was."""

    __slots__ = ("_changed", "_parsed", "_raw")

    def __init__(
        self, raw: Mapping[str, Any] | None = None, changed: Mapping[str, AchievementProgress] | None = None
    ) -> None:
        self._changed: dict[str, AchievementProgress] = dict(changed or {})
        self._raw: dict[str, Any] = {k: v for k, v in (raw or {}).items() if k not in self._changed}
        self._parsed: dict[str, AchievementProgress] = {}

    def __getitem__(self, key: str) -> AchievementProgress:
        found = self._changed.get(key) or self._parsed.get(key)
        if found is None:
            found = self._parsed[key] = AchievementProgress.from_dict(self._raw[key])
        return found

    def __iter__(self) -> Iterator[str]:
        yield from self._raw
        yield from self._changed

    def __len__(self) -> int:
        return len(self._raw) + len(self._changed)

    def updated(self, changes: Mapping[str, AchievementProgress]) -> ProgressMap:
        kept = {k: v for k, v in self._changed.items() if k not in changes}
        return ProgressMap(self._raw, {**kept, **changes})

    def to_dict(self) -> dict[str, Any]:
        return {**self._raw, **{k: v.to_dict() for k, v in self._changed.items()}}


@dataclass(frozen=True, slots=True)
class MemberState:
    progress: Mapping[str, AchievementProgress] = field(default_factory=ProgressMap)  # by achievementId
    applied: Mapping[str, Applied] = field(default_factory=AppliedLog)  # by customEventId

    def __post_init__(self) -> None:
        if not isinstance(self.progress, ProgressMap):
            object.__setattr__(self, "progress", ProgressMap(changed=self.progress))
        if not isinstance(self.applied, AppliedLog):
            object.__setattr__(self, "applied", AppliedLog(self.applied))

    @classmethod
    def empty(cls) -> MemberState:
        return cls()

    @property
    def log(self) -> AppliedLog:
        return AppliedLog.of(self.applied)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible, compact; it shares unchanged parts with the dict it was read from,
        so treat it as read-only."""
        progress = self.progress if isinstance(self.progress, ProgressMap) else ProgressMap(changed=self.progress)
        return {"p": progress.to_dict(), "a": self.log.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MemberState:
        return cls(
            ProgressMap(d.get("p", {})),
            AppliedLog.from_dict(d.get("a", {})),
        )


@dataclass(frozen=True, slots=True)
class ProcessResult:
    state: MemberState
    outcome: Outcome
    outputs: tuple[WebhookOutput, ...]
    duplicate: bool


def prune(
    state: MemberState, *, now: datetime, retention: timedelta, outputs_retention: timedelta | None = None
) -> MemberState:
    """Forget applied-log entries first applied longer than `retention` before `now`.

    With `outputs_retention` (shorter than `retention`), older entries keep their outcome but drop
    their outputs: a re-delivery that late still counts once and answers the same outcome, but
    sends nothing again. Outputs are what make the log big, and re-deliveries after a crash come
    within the commit interval, so a window of minutes keeps the state small on the hot path.
    """
    trim_before = None if outputs_retention is None else (now - outputs_retention).timestamp()
    log = state.log.pruned((now - retention).timestamp(), trim_before)
    return state if log is state.log else MemberState(state.progress, log)
