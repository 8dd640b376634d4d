"""The log of applied customEventIds: what each application answered, so a re-delivery gets
the same outcome and the same messages back.

The log is rewritten with every event a member gets, so entries stay in their stored form until
someone reads them: decoding and re-encoding a whole log per event would dominate the hot path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .outcomes import ACHIEVEMENTS_PROCESSED, PROGRESS_CHANGED, Outcome, WebhookOutput


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one customEventId gave, kept so a re-delivery gets the same answer."""

    at: float  # POSIX seconds of the first application (for pruning)
    outcome: Outcome
    outputs: tuple[WebhookOutput, ...]
    trimmed: bool = False  # outputs dropped by prune(outputs_retention=...): long since sent

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"t": self.at, "o": self.outcome.to_dict()}
        if self.trimmed:
            out["x"] = 1
        if self.outputs:
            out |= _pack(self.outputs)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Applied:
        return cls(float(raw["t"]), Outcome.from_dict(raw["o"]), _unpack(raw), bool(raw.get("x", False)))


def _pack(outputs: tuple[WebhookOutput, ...]) -> dict[str, Any]:
    """Outputs of one event share store, member and time, and AchievementsWereProcessed repeats
    the progress payloads: store each once (the log is rewritten with every event)."""
    *changed, processed = outputs
    first = outputs[0]
    compact = (
        changed
        and processed.event_name == ACHIEVEMENTS_PROCESSED
        and processed.data == [o.data for o in changed]
        and all(o.event_name == PROGRESS_CHANGED for o in changed)
        and all(
            (o.store_code, o.customer_id, o.created_at) == (first.store_code, first.customer_id, first.created_at)
            for o in outputs
        )
    )
    if not compact:
        return {"W": [o.to_dict() for o in outputs]}
    return {
        "s": first.store_code,
        "u": first.customer_id,
        "c": first.created_at,
        "m": processed.message_id,
        "w": [[o.message_id, o.achievement_id, o.data] for o in changed],
    }


def _unpack(raw: Mapping[str, Any]) -> tuple[WebhookOutput, ...]:
    if "W" in raw:
        return tuple(WebhookOutput.from_dict(w) for w in raw["W"])
    if "w" not in raw:
        return ()
    store, customer, created = raw["s"], raw["u"], raw["c"]
    changed = [WebhookOutput(m, PROGRESS_CHANGED, store, customer, created, a, d) for m, a, d in raw["w"]]
    processed = WebhookOutput(
        raw["m"], ACHIEVEMENTS_PROCESSED, store, customer, created, None, [o.data for o in changed]
    )
    return (*changed, processed)


class AppliedLog(Mapping[str, Applied]):
    """customEventId → Applied, immutable. Entries are held in their stored (dict) form and
    decoded on access: writing the log back costs one dict copy, not a re-encode per entry."""

    __slots__ = ("_entries",)

    def __init__(self, entries: Mapping[str, Applied | Mapping[str, Any]] | None = None) -> None:
        self._entries: dict[str, Mapping[str, Any]] = {
            k: (e.to_dict() if isinstance(e, Applied) else e) for k, e in (entries or {}).items()
        }

    @classmethod
    def of(cls, entries: Mapping[str, Applied]) -> AppliedLog:
        return entries if isinstance(entries, AppliedLog) else cls(entries)

    @classmethod
    def _wrap(cls, entries: dict[str, Mapping[str, Any]]) -> AppliedLog:
        log = cls()
        log._entries = entries
        return log

    def __getitem__(self, key: str) -> Applied:
        return Applied.from_dict(self._entries[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"AppliedLog({len(self)} entries)"

    def with_entry(self, key: str, entry: Applied) -> AppliedLog:
        return self._wrap({**self._entries, key: entry.to_dict()})

    def pruned(self, oldest: float, trim_before: float | None) -> AppliedLog:
        """Without entries applied before `oldest`; entries before `trim_before` lose their outputs."""
        kept: dict[str, Mapping[str, Any]] = {}
        changed = False
        for key, raw in self._entries.items():
            at = float(raw["t"])
            if at < oldest:
                changed = True
                continue
            if trim_before is not None and at < trim_before and ("w" in raw or "W" in raw):
                raw = {"t": raw["t"], "o": raw["o"], "x": 1}
                changed = True
            kept[key] = raw
        return self._wrap(kept) if changed else self

    def to_dict(self) -> dict[str, Any]:
        return dict(self._entries)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AppliedLog:
        return cls._wrap(dict(raw))
