"""How far a rule is, as of a moment: the current period's value and the live streak."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .achievement import Rule
from .numbers import Number
from .progress import RuleProgress


@dataclass(frozen=True, slots=True, init=False)
class RuleStatus:
    current_value: Number  # the value of the period holding the reference date
    streak: int  # completedConsecutivePeriods: 0 once the streak has lapsed, capped at goal
    complete: bool

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(self, current_value: Number, streak: int, complete: bool) -> None:
        object.__setattr__(self, "current_value", current_value)
        object.__setattr__(self, "streak", streak)
        object.__setattr__(self, "complete", complete)


def anchor_streak(rule: Rule, progress: RuleProgress) -> tuple[int | None, int]:
    """The latest goal-reaching bucket and the run of goal-reaching buckets ending there
    (capped at the streak the rule asks for). Depends only on the buckets, not on the
    order their events arrived in."""
    goal = rule.complete_rule.period_goal
    reached = {i for i, b in progress.buckets.items() if b.value >= goal}
    if not reached:
        return None, 0
    anchor = max(reached)
    wanted = rule.period.streak
    run = 1
    while run < wanted and anchor - run in reached:
        run += 1
    return anchor, run


def rule_status(rule: Rule, progress: RuleProgress, at: date) -> RuleStatus:
    """Status as of store-local day `at`: a streak whose latest goal-reaching bucket is older
    than the period before `at` has lapsed and reads 0."""
    period = rule.period
    if not period.periodic:
        value = progress.bucket(0).value
        done = value >= rule.complete_rule.period_goal
        return RuleStatus(value, int(done), done)
    here = period.index(at)
    current = progress.bucket(here).value
    anchor, run = anchor_streak(rule, progress)
    if anchor is None or anchor < here - 1:
        return RuleStatus(current, 0, False)
    return RuleStatus(current, run, run >= period.streak)
