"""process_event: one custom event against a member's achievements, exactly once."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from .achievement import Achievement, Rule
from .conditions import MISSING, Facts, resolve
from .events import Event, MemberRef
from .ids import message_id, processed_message_id
from .member import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    Applied,
    MemberState,
    Outcome,
    ProcessResult,
    ProgressMap,
    WebhookOutput,
)
from .numbers import Number, finite_number
from .progress import AchievementProgress, RuleProgress
from .streaks import rule_status
from .webhooks import limit_reached, progress_changed_data


@dataclass(frozen=True, slots=True)
class _Step:
    """What one event did to one achievement: a new progress, or why nothing changed."""

    before: AchievementProgress
    after: AchievementProgress | None
    reason: str | None


def _unique_key(value: Any) -> str:
    # Strings as they are; anything else in a form that cannot collide with a string.
    if isinstance(value, str):
        return value
    return "\x00" + json.dumps(value, sort_keys=True, default=str)


def _admit(rule: Rule, progress: RuleProgress, facts: Facts) -> RuleProgress | str:
    """The rule's progress with the event counted, or the reason it is not."""
    if not all(c.holds(facts) for c in rule.conditions):
        return "conditions_not_met"
    period = rule.period
    index = period.index(facts.event_date.date())
    if progress.too_old(index, period.keep):
        return "too_old"
    amount: Number = 1
    if rule.aggregation.type == "sum":
        raw = resolve(facts, rule.aggregation.path)
        summed = None if isinstance(raw, bool) else finite_number(raw)
        if summed is None:
            return "aggregation_value_invalid"
        amount = summed
    unique: str | None = None
    if rule.complete_rule.unique_path:
        raw = resolve(facts, rule.complete_rule.unique_path)
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


def _complete(a: Achievement, progress: AchievementProgress, facts: Facts) -> AchievementProgress:
    """Count a completion when every rule is complete now; then every rule starts over."""
    day = facts.event_date.date()
    if not all(rule_status(r, p, day).complete for r, p in zip(a.rules, progress.rules, strict=True)):
        return progress
    completions = progress.completions
    if a.limit is not None and a.limit.interval is not None:
        completions = completions.add(a.limit.key(facts.event_date), a.limit.span(a.horizon_days()))
    rules = tuple(
        p.restart(r.period.index(day) if r.period.periodic else None)
        for r, p in zip(a.rules, progress.rules, strict=True)
    )
    return AchievementProgress(
        progress.rules_version, progress.completed_count + 1, rules, completions, progress.reset_pending
    )


def _step(a: Achievement, stored: AchievementProgress | None, facts: Facts, event_type: str) -> _Step:
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
        admitted = _admit(rule, after.rules[i], facts)
        if isinstance(admitted, str):
            reason = reason or admitted
        else:
            after = after.with_rule(i, admitted)
    if after is before:
        return _Step(before, None, reason or "conditions_not_met")
    return _Step(before, _complete(a, after, facts), None)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def process_event(
    state: MemberState,
    event: Event,
    achievements: Sequence[Achievement],
    member: MemberRef,
    *,
    store_code: str,
    tz: ZoneInfo,
    now: datetime,
) -> ProcessResult:
    """Apply one event to every achievement of the store that listens to its type.

    A customEventId already in the state's log gets the first application's outcome and
    outputs back (duplicate=True) and changes nothing.
    """
    seen = state.log.get(event.custom_event_id)
    if seen is not None:
        return ProcessResult(state, seen.outcome, seen.outputs, True)
    listening = [a for a in achievements if a.store_code == store_code and a.listens_to(event.type)]
    if not member.active:
        outcome = Outcome("no_effect", "member_inactive", {}, ())
        return _logged(state, state.progress, event, outcome, (), now)
    if not listening:
        outcome = Outcome("no_effect", "no_achievement_listens", {}, ())
        return _logged(state, state.progress, event, outcome, (), now)
    local = event.event_date.astimezone(tz)
    facts = Facts(event.type, local, event.body, tz)
    changes: dict[str, AchievementProgress] = {}
    reasons: dict[str, str] = {}
    outputs: list[WebhookOutput] = []
    created_at = _utc(now)
    for a in listening:
        step = _step(a, state.progress.get(a.achievement_id), facts, event.type)
        if step.after is None:
            reasons[a.achievement_id] = step.reason or "conditions_not_met"
            continue
        reset = step.before.reset_pending
        after = step.after if not reset else _clear_reset(step.after)
        changes[a.achievement_id] = after
        data = progress_changed_data(a, member, event, local, step.before, after, reset)
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
        return _logged(state, state.progress, event, Outcome("no_effect", first, reasons, ()), (), now)
    versions = [(o.achievement_id or "", _version(listening, o.achievement_id)) for o in outputs]
    outputs.append(
        WebhookOutput(
            processed_message_id(store_code, event.custom_event_id, member.customer_id, versions),
            ACHIEVEMENTS_PROCESSED,
            store_code,
            member.customer_id,
            created_at,
            None,
            [o.data for o in outputs],
        )
    )
    changed = tuple(o.achievement_id for o in outputs if o.achievement_id is not None)
    outcome = Outcome("counted", None, reasons, changed)
    progress = (
        state.progress.updated(changes) if isinstance(state.progress, ProgressMap) else {**state.progress, **changes}
    )
    return _logged(state, progress, event, outcome, tuple(outputs), now)


def _clear_reset(progress: AchievementProgress) -> AchievementProgress:
    return AchievementProgress(
        progress.rules_version, progress.completed_count, progress.rules, progress.completions, False
    )


def _version(achievements: Sequence[Achievement], achievement_id: str | None) -> int:
    return next(a.rules_version for a in achievements if a.achievement_id == achievement_id)


def _logged(
    state: MemberState,
    progress: Mapping[str, AchievementProgress],
    event: Event,
    outcome: Outcome,
    outputs: tuple[WebhookOutput, ...],
    now: datetime,
) -> ProcessResult:
    applied = state.log.with_entry(event.custom_event_id, Applied(now.timestamp(), outcome, outputs))
    return ProcessResult(MemberState(progress, applied), outcome, outputs, False)
