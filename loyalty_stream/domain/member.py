"""A member's state (progress on every achievement) and what processing one event yields.

Which events a member already counts is not kept here: the processor recognises re-deliveries and
repeated customEventIds before it calls the core (processors/dedup.py), so the state a member carries
does not grow with its history.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .outcomes import ACHIEVEMENTS_PROCESSED, PROGRESS_CHANGED, REASONS, Outcome, WebhookOutput
from .progress import AchievementProgress

__all__ = [
    "ACHIEVEMENTS_PROCESSED",
    "PROGRESS_CHANGED",
    "REASONS",
    "MemberState",
    "Outcome",
    "ProcessResult",
    "ProgressMap",
    "WebhookOutput",
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

    def get(self, key: str, default: Any = None) -> Any:  # Mapping.get goes through KeyError: hot path
        found = self._changed.get(key) or self._parsed.get(key)
        if found is not None:
            return found
        raw = self._raw.get(key)
        if raw is None:
            return default
        found = self._parsed[key] = AchievementProgress.from_dict(raw)
        return found

    def __iter__(self) -> Iterator[str]:
        yield from self._raw
        yield from self._changed

    def __len__(self) -> int:
        return len(self._raw) + len(self._changed)

    def updated(self, changes: Mapping[str, AchievementProgress]) -> ProgressMap:
        out = ProgressMap.__new__(ProgressMap)
        out._raw = (
            self._raw
            if not changes.keys() & self._raw.keys()
            else {k: v for k, v in self._raw.items() if k not in changes}
        )
        out._changed = {**self._changed, **changes}
        out._parsed = self._parsed
        return out

    def to_dict(self) -> dict[str, Any]:
        return {**self._raw, **{k: v.to_dict() for k, v in self._changed.items()}}


@dataclass(frozen=True, slots=True, init=False)
class MemberState:
    progress: Mapping[str, AchievementProgress]  # by achievementId

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, progress: Mapping[str, AchievementProgress] | None = None) -> None:
        if not isinstance(progress, ProgressMap):
            progress = ProgressMap(changed=progress)
        object.__setattr__(self, "progress", progress)

    @classmethod
    def empty(cls) -> MemberState:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible, compact; it shares unchanged parts with the dict it was read from,
        so treat it as read-only."""
        progress = self.progress if isinstance(self.progress, ProgressMap) else ProgressMap(changed=self.progress)
        return {"p": progress.to_dict()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MemberState:
        """Reads what ``to_dict`` wrote; other keys (the applied log of earlier versions) are ignored."""
        return cls(ProgressMap(d.get("p", {})))


@dataclass(frozen=True, slots=True, init=False)
class ProcessResult:
    state: MemberState
    outcome: Outcome
    outputs: tuple[WebhookOutput, ...]

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, state: MemberState, outcome: Outcome, outputs: tuple[WebhookOutput, ...]) -> None:
        object.__setattr__(self, "state", state)
        object.__setattr__(self, "outcome", outcome)
        object.__setattr__(self, "outputs", outputs)
