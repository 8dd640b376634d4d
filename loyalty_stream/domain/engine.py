"""process_event: one custom event (or transaction) against a member's achievements.

The core applies every event it is given; recognising one already applied is the processor's job
(processors/dedup.py), done before the call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from .achievement import Achievement, Rule
from .conditions import MISSING, Facts, Many, number_at, resolve
from .events import TRANSACTION_TYPE, Event, MemberRef
from .ids import message_id, processed_message_id
from .member import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    MemberState,
    Outcome,
    ProcessResult,
    ProgressMap,
    WebhookOutput,
)
from .numbers import Number
from .progress import AchievementProgress, RuleProgress
from .streaks import RuleStatus, rule_status
from .webhooks import Trigger, limit_reached, progress_changed_data

_INACTIVE: Final = Outcome("no_effect", "member_inactive", {}, ())
_NOBODY: Final = Outcome("no_effect", "no_achievement_listens", {}, ())
# A return is recorded and counts towards nothing: progress never goes down (docs/decisions.md).
_RETURN: Final = Outcome("no_effect", "return_not_counted", {}, ())


@dataclass(frozen=True, slots=True, init=False)
class _Step:
    """What one event did to one achievement: a new progress (with each rule's status on the event's day,
    which the webhook reports), or why nothing changed."""

    before: AchievementProgress
    after: AchievementProgress | None
    reason: str | None
    statuses: tuple[RuleStatus, ...]

    # Written out (init=False): mypyc compiles it to native code, where the generated one runs as Python
    def __init__(
        self,
        before: AchievementProgress,
        after: AchievementProgress | None,
        reason: str | None,
        statuses: tuple[RuleStatus, ...] = (),
    ) -> None:
        object.__setattr__(self, "before", before)
        object.__setattr__(self, "after", after)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "statuses", statuses)


def _unique_key(value: Any) -> str:
    # Strings as they are; anything else in a form that cannot collide with a string.
    if isinstance(value, str):
        return value
    return "\x00" + json.dumps(value, sort_keys=True, default=str)


def _admit(rule: Rule, progress: RuleProgress, facts: Facts, day: date) -> RuleProgress | str:
    """The rule's progress with the event counted, or the reason it is not."""
    if rule.conditions and not all(c.holds(facts) for c in rule.conditions):
        return "conditions_not_met"
    period = rule.period
    index = period.index(day)
    if progress.too_old(index, period.keep):
        return "too_old"
    amount: Number = 1
    aggregation = rule.aggregation
    if aggregation.type == "sum":
        if aggregation.path:
            summed = number_at(facts, aggregation.path)
        else:
            summed = aggregation.expression.value(facts) if aggregation.expression is not None else None
        if summed is None:
            return "aggregation_value_invalid"
        amount = summed
    unique: str | None = None
    if rule.complete_rule.unique_path:
        raw = resolve(facts, rule.complete_rule.unique_path)
        if isinstance(raw, Many):
            raw = [v for v in raw.values if v is not MISSING]  # e.g. the set of skus bought
        if raw is MISSING or raw is None:
            return "conditions_not_met"
        unique = _unique_key(raw)
        if unique in progress.bucket(index).seen:
            return "unique_attribute_repeated"
    arrivals, key = progress.arrivals, 0
    if rule.limit is not None:
        key = rule.limit.key(facts.event_date)
        count = arrivals.get(key)
        if count is None:
            return "too_old"
        if count >= rule.limit.value:
            return "frequency_limit"
    if progress.spent(index):
        return "too_old"  # only periods after a completion count towards the next one
    if rule.limit is not None:
        arrivals = arrivals.add(key, rule.limit.span(period.horizon_days()))
    return progress.add(index, amount, unique, period.keep, arrivals)


def _statuses(a: Achievement, progress: AchievementProgress, day: date) -> tuple[RuleStatus, ...]:
    return tuple(rule_status(r, p, day) for r, p in zip(a.rules, progress.rules, strict=True))


def _complete(
    a: Achievement, progress: AchievementProgress, facts: Facts, day: date
) -> tuple[AchievementProgress, tuple[RuleStatus, ...]]:
    """Count a completion when every rule is complete now; then every rule starts over."""
    statuses = _statuses(a, progress, day)
    if not all(s.complete for s in statuses):
        return progress, statuses
    completions = progress.completions
    if a.limit is not None and a.limit.interval is not None:
        completions = completions.add(a.limit.key(facts.event_date), a.limit.span(a.horizon_days()))
    rules = tuple(
        p.restart(r.period.index(day) if r.period.periodic else None)
        for r, p in zip(a.rules, progress.rules, strict=True)
    )
    done = AchievementProgress(
        progress.rules_version, progress.completed_count + 1, rules, completions, progress.reset_pending
    )
    return done, _statuses(a, done, day)


def _step(a: Achievement, stored: AchievementProgress | None, facts: Facts, event_type: str, day: date) -> _Step:
    before = (
        AchievementProgress.start(a.rules_version, len(a.rules))
        if stored is None
        else stored.for_version(a.rules_version, len(a.rules))
    )
    if not a.active:
        return _Step(before, None, "achievement_inactive")
    if a.activity is not None and not a.activity.holds(facts):
        return _Step(before, None, "outside_activity_window")
    if (
        a.limit is not None
        and a.limit.interval is not None
        and before.completions.get(a.limit.key(facts.event_date)) is None
    ):
        return _Step(before, None, "too_old")  # its interval's completions are forgotten
    if limit_reached(a, before, facts.event_date):
        return _Step(before, None, "achievement_limit_reached")
    after, reason = before, None
    for i, rule in enumerate(a.rules):
        if not rule.listens_to(event_type):
            continue
        admitted = _admit(rule, after.rules[i], facts, day)
        if isinstance(admitted, str):
            reason = reason or admitted
        else:
            after = after.with_rule(i, admitted)
    if after is before:
        return _Step(before, None, reason or "conditions_not_met")
    done, statuses = _complete(a, after, facts, day)
    return _Step(before, done, None, statuses)


def _previous(a: Achievement, step: _Step, day: date) -> tuple[RuleStatus, ...]:
    """Each rule's status before the event; a rule the event did not touch has the status it has after."""
    assert step.after is not None
    return tuple(
        now if was is is_ else rule_status(r, was, day)
        for r, was, is_, now in zip(a.rules, step.before.rules, step.after.rules, step.statuses, strict=True)
    )


def process_event(
    state: MemberState,
    event: Event,
    achievements: Sequence[Achievement],
    member: MemberRef,
    *,
    store_code: str,
    tz: ZoneInfo,
    now: datetime,
    processed: bool = True,
) -> ProcessResult:
    """Apply one event to every achievement of the store that listens to its type. ``processed=False`` leaves
    out the AchievementsWereProcessed output (nobody subscribed to it receives it)."""
    event_type = event.type
    listening = [a for a in achievements if a.store_code == store_code and event_type in a.event_types]
    if not member.active:
        return ProcessResult(state, _INACTIVE, ())
    if event_type == TRANSACTION_TYPE and event.body.get("documentType") == "return":
        return ProcessResult(state, _RETURN, ())
    if not listening:
        return ProcessResult(state, _NOBODY, ())
    local = event.event_date.astimezone(tz)
    day = local.date()
    facts = Facts(event_type, local, event.body, tz)
    trigger: Trigger | None = None
    changes: dict[str, AchievementProgress] = {}
    reasons: dict[str, str] = {}
    outputs: list[WebhookOutput] = []
    created_at = now.astimezone(UTC).isoformat()
    progress = state.progress
    for a in listening:
        step = _step(a, progress.get(a.achievement_id), facts, event_type, day)
        if step.after is None:
            reasons[a.achievement_id] = step.reason or "conditions_not_met"
            continue
        trigger = trigger or Trigger.of(member, event, local)
        reset = step.before.reset_pending
        after = step.after if not reset else step.after.without_reset()
        changes[a.achievement_id] = after
        data = progress_changed_data(
            a, trigger, local, step.before, after, reset, statuses=step.statuses, previous=_previous(a, step, day)
        )
        outputs.append(
            WebhookOutput(
                message_id(store_code, event.custom_event_id, a.achievement_id, member.customer_id, a.rules_version),
                PROGRESS_CHANGED,
                store_code,
                member.customer_id,
                created_at,
                a.achievement_id,
                data,
            )
        )
    if not outputs:
        first = next(iter(reasons.values()))
        return ProcessResult(state, Outcome("no_effect", first, reasons, ()), ())
    changed = tuple(o.achievement_id for o in outputs if o.achievement_id is not None)
    if processed:
        outputs.append(_processed(store_code, event, member, created_at, listening, outputs))
    new_progress: Mapping[str, AchievementProgress] = (
        progress.updated(changes) if isinstance(progress, ProgressMap) else {**progress, **changes}
    )
    return ProcessResult(MemberState(new_progress), Outcome("counted", None, reasons, changed), tuple(outputs))


def _processed(
    store_code: str,
    event: Event,
    member: MemberRef,
    created_at: str,
    listening: Sequence[Achievement],
    changed: Sequence[WebhookOutput],
) -> WebhookOutput:
    """AchievementsWereProcessed: the progress payloads of every achievement one event changed."""
    versions = [(o.achievement_id or "", _version(listening, o.achievement_id)) for o in changed]
    return WebhookOutput(
        processed_message_id(store_code, event.custom_event_id, member.customer_id, versions),
        ACHIEVEMENTS_PROCESSED,
        store_code,
        member.customer_id,
        created_at,
        None,
        [o.data for o in changed],
    )


def _version(achievements: Sequence[Achievement], achievement_id: str | None) -> int:
    return next(a.rules_version for a in achievements if a.achievement_id == achievement_id)
