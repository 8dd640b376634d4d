"""The pure domain core of loyalty-stream: custom events → achievements → webhooks.

Plain Python: no Kafka, no asyncio, no web framework. The processor decodes an event, calls
`process_event` with the member's `MemberState`, stores the returned state and sends the
returned outputs; the API parses achievements with `parse_achievement` and renders views.

The modules run as plain Python, or compiled by mypyc where `make install` could build them (_native.py).
"""

from ._native import COMPILED  # first: it drops stale compiled modules before any is imported
from .achievement import (
    Achievement,
    Aggregation,
    CompleteRule,
    Interval,
    Limit,
    Period,
    Rule,
    rules_differ,
)
from .conditions import Condition
from .engine import process_event
from .errors import AchievementInvalid, FieldError, LoyaltyError
from .events import Event, MemberRef, parse_event_date
from .ids import (
    NAMESPACE,
    custom_event_id,
    message_id,
    processed_message_id,
    rule_id,
    source_event_id,
)
from .member import (
    ACHIEVEMENTS_PROCESSED,
    PROGRESS_CHANGED,
    REASONS,
    MemberState,
    Outcome,
    ProcessResult,
    WebhookOutput,
)
from .parsing import not_evaluated, parse_achievement
from .views import achievement_view, achievement_webhook_data, member_achievements_view

__all__ = [
    "ACHIEVEMENTS_PROCESSED",
    "COMPILED",
    "NAMESPACE",
    "PROGRESS_CHANGED",
    "REASONS",
    "Achievement",
    "AchievementInvalid",
    "Aggregation",
    "CompleteRule",
    "Condition",
    "Event",
    "FieldError",
    "Interval",
    "Limit",
    "LoyaltyError",
    "MemberRef",
    "MemberState",
    "Outcome",
    "Period",
    "ProcessResult",
    "Rule",
    "WebhookOutput",
    "achievement_view",
    "achievement_webhook_data",
    "custom_event_id",
    "member_achievements_view",
    "message_id",
    "not_evaluated",
    "parse_achievement",
    "parse_event_date",
    "process_event",
    "processed_message_id",
    "rule_id",
    "rules_differ",
    "source_event_id",
]
