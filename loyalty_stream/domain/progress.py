"""A member's progress on one achievement: buckets per rule, completions, limit tallies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .numbers import Number, dump, load, normalise
from .tally import EMPTY_TALLY, Tally


@dataclass(frozen=True, slots=True, init=False)
class Bucket:
    """One period's total, and the uniqueAttribute values already counted in it."""

    value: Number
    seen: frozenset[str]

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, value: Number = 0, seen: frozenset[str] = frozenset()) -> None:
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "seen", seen)


EMPTY_BUCKET: Final = Bucket()


@dataclass(frozen=True, slots=True, init=False)
class RuleProgress:
    buckets: Mapping[int, Bucket]
    top: int | None  # newest bucket index admitted: the kept window ends here
    floor: int | None  # buckets up to here belong to a completed round
    arrivals: Tally  # frequency-limit admissions per interval key

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        buckets: Mapping[int, Bucket] | None = None,
        top: int | None = None,
        floor: int | None = None,
        arrivals: Tally = EMPTY_TALLY,
    ) -> None:
        object.__setattr__(self, "buckets", {} if buckets is None else buckets)
        object.__setattr__(self, "top", top)
        object.__setattr__(self, "floor", floor)
        object.__setattr__(self, "arrivals", arrivals)

    def bucket(self, index: int) -> Bucket:
        return self.buckets.get(index, EMPTY_BUCKET)

    def too_old(self, index: int, keep: int | None) -> bool:
        """Whether a bucket is outside the kept window (older than the last `keep` periods)."""
        return keep is not None and self.top is not None and index <= self.top - keep

    def spent(self, index: int) -> bool:
        """Whether a bucket belongs to a round that already completed."""
        return self.floor is not None and index <= self.floor

    def add(self, index: int, amount: Number, unique: str | None, keep: int | None, arrivals: Tally) -> RuleProgress:
        old = self.bucket(index)
        seen = old.seen if unique is None else old.seen | {unique}
        buckets = dict(self.buckets)
        buckets[index] = Bucket(normalise(old.value + amount), seen)
        top = index if self.top is None else max(self.top, index)
        if keep is not None:
            # Only the last `keep` periods can still matter to a streak.
            for stale in [i for i in buckets if i <= top - keep]:
                del buckets[stale]
        return RuleProgress(buckets, top if keep is not None else None, self.floor, arrivals)

    def restart(self, completing: int | None) -> RuleProgress:
        """A fresh round after a completion: nothing carried over; periodic rules count only
        buckets after `completing` (None for overall rules)."""
        if completing is None:
            return RuleProgress(arrivals=self.arrivals)
        floor = completing if self.top is None else max(self.top, completing)
        return RuleProgress({}, floor, floor, self.arrivals)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.buckets:
            out["b"] = [
                [i, dump(b.value), sorted(b.seen)] if b.seen else [i, dump(b.value)]
                for i, b in sorted(self.buckets.items())
            ]
        if self.top is not None:
            out["t"] = self.top
        if self.floor is not None:
            out["f"] = self.floor
        if self.arrivals.counts or self.arrivals.below is not None:
            out["q"] = self.arrivals.to_dict()
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RuleProgress:
        buckets = {
            int(item[0]): Bucket(load(item[1]), frozenset(item[2]) if len(item) > 2 else frozenset())
            for item in raw.get("b", ())
        }
        return cls(buckets, raw.get("t"), raw.get("f"), Tally.from_dict(raw.get("q")))


EMPTY_RULE: Final = RuleProgress()


@dataclass(frozen=True, slots=True, init=False)
class AchievementProgress:
    rules_version: int
    completed_count: int
    rules: tuple[RuleProgress, ...]
    completions: Tally  # completions per achievement-limit interval
    reset_pending: bool  # rules changed since; the next change reports reset=true

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        rules_version: int,
        completed_count: int = 0,
        rules: tuple[RuleProgress, ...] = (),
        completions: Tally = EMPTY_TALLY,
        reset_pending: bool = False,
    ) -> None:
        object.__setattr__(self, "rules_version", rules_version)
        object.__setattr__(self, "completed_count", completed_count)
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "completions", completions)
        object.__setattr__(self, "reset_pending", reset_pending)

    @classmethod
    def start(cls, rules_version: int, rule_count: int) -> AchievementProgress:
        return cls(rules_version, rules=(EMPTY_RULE,) * rule_count)

    def for_version(self, rules_version: int, rule_count: int) -> AchievementProgress:
        """Progress under the current rules: a rules change drops rule progress (lazily, here)
        but keeps completions, which are never retracted."""
        if self.rules_version == rules_version and len(self.rules) == rule_count:
            return self
        return AchievementProgress(
            rules_version, self.completed_count, (EMPTY_RULE,) * rule_count, self.completions, True
        )

    def with_rule(self, index: int, rule: RuleProgress) -> AchievementProgress:
        rules = (*self.rules[:index], rule, *self.rules[index + 1 :])
        return AchievementProgress(
            self.rules_version, self.completed_count, rules, self.completions, self.reset_pending
        )

    def without_reset(self) -> AchievementProgress:
        """The same progress, its pending reset reported."""
        return AchievementProgress(self.rules_version, self.completed_count, self.rules, self.completions, False)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": self.rules_version, "r": [r.to_dict() for r in self.rules]}
        if self.completed_count:
            out["n"] = self.completed_count
        if self.completions.counts or self.completions.below is not None:
            out["c"] = self.completions.to_dict()
        if self.reset_pending:
            out["x"] = 1
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> AchievementProgress:
        return cls(
            int(raw["v"]),
            int(raw.get("n", 0)),
            tuple(RuleProgress.from_dict(r) for r in raw.get("r", ())),
            Tally.from_dict(raw.get("c")),
            bool(raw.get("x", False)),
        )
