"""Counts per calendar interval, bounded: old intervals are forgotten, and remembered as such."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MAX_KEYS: Final = 256  # per tally: bounds a member's state whatever the interval size


@dataclass(frozen=True, slots=True, init=False)
class Tally:
    counts: Mapping[int, int]
    below: int | None  # keys under this were forgotten: their count is unknown

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, counts: Mapping[int, int] | None = None, below: int | None = None) -> None:
        object.__setattr__(self, "counts", {} if counts is None else counts)
        object.__setattr__(self, "below", below)

    def get(self, key: int) -> int | None:
        """The count of an interval; None when it has been forgotten (the event is too old)."""
        if self.below is not None and key < self.below:
            return None
        return self.counts.get(key, 0)

    def add(self, key: int, span: int | None) -> Tally:
        """Count one more in `key`, keeping only the `span` newest keys' worth of history."""
        counts = dict(self.counts)
        counts[key] = counts.get(key, 0) + 1
        newest = max(counts)
        lowest = None if span is None else newest - span + 1
        dropped = [k for k in counts if lowest is not None and k < lowest]
        if len(counts) - len(dropped) > MAX_KEYS:
            dropped = sorted(counts)[: len(counts) - MAX_KEYS]
        below = self.below
        for k in dropped:
            del counts[k]
            below = k + 1 if below is None else max(below, k + 1)
        return Tally(counts, below)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"k": [[k, n] for k, n in sorted(self.counts.items())]}
        if self.below is not None:
            out["b"] = self.below
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Tally:
        if not raw:
            return cls()
        return cls({int(k): int(n) for k, n in raw.get("k", ())}, raw.get("b"))


EMPTY_TALLY: Final = Tally()
