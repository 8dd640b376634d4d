"""An achievement and its rules, as parsed from Open Loyalty's CreateAchievementFormType."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal

from .calendar import (
    IntervalType,
    PeriodType,
    interval_key,
    interval_span,
    period_index,
    window_days,
)
from .conditions import Condition
from .events import TRANSACTION_TYPE
from .expressions import Expression
from .numbers import Number, to_json


@dataclass(frozen=True, slots=True)
class Interval:
    type: IntervalType
    value: int

    def key(self, local: datetime) -> int:
        return interval_key(self.type, self.value, local)


@dataclass(frozen=True, slots=True)
class Limit:
    """`value` per calendar `interval`, or `value` ever when there is no interval."""

    value: int
    interval: Interval | None = None

    def key(self, local: datetime) -> int:
        return 0 if self.interval is None else self.interval.key(local)

    def span(self, days: int | None) -> int | None:
        """How many interval keys of history cover `days` (None: keep all)."""
        if self.interval is None:
            return None
        return interval_span(self.interval.type, self.interval.value, days)


@dataclass(frozen=True, slots=True)
class Period:
    type: PeriodType
    consecutive: int = 1  # C, for day/week/month/year
    value: int = 1  # N, for last_day

    @property
    def periodic(self) -> bool:
        return self.type != "overall"

    @property
    def streak(self) -> int:
        """How many goal-reaching buckets in a row complete the rule."""
        if self.type == "last_day":
            return self.value
        return self.consecutive if self.periodic else 1

    @property
    def keep(self) -> int | None:
        """Buckets kept: C+1 periods, N days for last_day; None for the single overall bucket."""
        if self.type == "last_day":
            return self.value
        return self.consecutive + 1 if self.periodic else None

    def index(self, day: date) -> int:
        return period_index(self.type, day)

    def horizon_days(self) -> int | None:
        keep = self.keep
        return None if keep is None else window_days(self.type, keep)


@dataclass(frozen=True, slots=True)
class Aggregation:
    type: Literal["quantity", "sum"] = "quantity"
    rule: str | None = None  # for sum: an expression (expressions.py), most often "event.body.<field>"
    path: tuple[str, ...] = field(default=(), repr=False, compare=False)  # the rule when it is one attribute
    expression: Expression | None = field(default=None, repr=False, compare=False)  # any other rule


@dataclass(frozen=True, slots=True)
class CompleteRule:
    period_goal: Number
    period: Period
    unique_attribute: str | None = None
    unique_path: tuple[str, ...] = field(default=(), repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str  # achievementRuleId
    trigger: Literal["custom_event", "transaction"]
    type: Literal["direct", "referral"]
    event: str | None
    conditions: tuple[Condition, ...]
    aggregation: Aggregation
    complete_rule: CompleteRule
    limit: Limit | None  # frequency limit: first `value` arrivals per interval are admitted
    translations: Mapping[str, Any]
    webhook_translations: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    goal_json: int | float = field(init=False, repr=False, compare=False)  # periodGoal as webhooks show it
    # The event type it counts: a custom event's type, or TRANSACTION_TYPE; None for a referral rule (stored,
    # never evaluated).
    type_key: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "goal_json", to_json(self.complete_rule.period_goal))
        key = None if self.type != "direct" else TRANSACTION_TYPE if self.trigger == "transaction" else self.event
        object.__setattr__(self, "type_key", key or None)

    def listens_to(self, event_type: str) -> bool:
        return self.type_key == event_type

    @property
    def period(self) -> Period:
        return self.complete_rule.period


@dataclass(frozen=True, slots=True)
class Achievement:
    achievement_id: str
    store_code: str
    name: str
    description: str
    active: bool
    activity: Condition | None  # None = always on
    limit: Limit | None  # completions per member
    rules: tuple[Rule, ...]
    rules_version: int
    definition: Mapping[str, Any]  # the normalised request body; parse_achievement reads it back
    translations: Mapping[str, Any]
    event_types: frozenset[str] = field(default=frozenset(), repr=False, compare=False)

    def listens_to(self, event_type: str) -> bool:
        return event_type in self.event_types

    def horizon_days(self) -> int | None:
        """Days of event time any rule still accepts events for (None: some rule never forgets)."""
        days = [r.period.horizon_days() for r in self.rules]
        return None if any(d is None for d in days) else max(d for d in days if d is not None)


KEPT_ACROSS_EDITS: Final = frozenset({"translations", "conditions"})


def rules_differ(old: Achievement, new: Achievement) -> bool:
    """Whether saving `new` over `old` changes the rules (and so bumps rulesVersion, resetting members'
    progress), as Open Loyalty's achievement docs have it: a rule's basic settings (its names and
    descriptions) and its trigger conditions can be edited without losing members' progress; anything else
    in a rule (trigger, event, aggregation, completeRule, limit, uniqueAttribute) or the number of rules
    resets it. The achievement's own names, activity, limit and status are not rules either.
    """

    def essence(a: Achievement) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in KEPT_ACROSS_EDITS} for r in a.definition["rules"]]

    return essence(old) != essence(new)
