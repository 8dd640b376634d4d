"""Every topic the project uses, in one table: name, partitions, cleanup policy, purpose.

The topic command, the Faust app, the API, the sender and the tests all take names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loyalty_stream.config.settings import Settings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    partitions: int
    compact: bool
    retention_ms: int | None = None
    purpose: str = ""
    internal: bool = False
    # The Avro record types written to it (``Serde.encode_for`` refuses any other; the first is the
    # default). Empty: raw copies of other topics' records, or a topic faust writes itself.
    records: tuple[str, ...] = ()

    @property
    def config(self) -> dict[str, str]:
        # compacted with a retention: the latest record per key, and nothing older than the retention
        policy = ("compact,delete" if self.retention_ms is not None else "compact") if self.compact else "delete"
        config = {"cleanup.policy": policy}
        if self.retention_ms is not None:
            config["retention.ms"] = str(self.retention_ms)
        if self.compact:
            # Tombstones (deletes) must reach every reader that is down for a while.
            config["delete.retention.ms"] = str(DAY_MS)
        return config


@dataclass(frozen=True, slots=True)
class Topics:
    """The project's topics for one prefix and partition count."""

    custom_events: Topic
    custom_events_dlq: Topic
    custom_events_unmatched: Topic
    custom_event_outcomes: Topic
    member_events: Topic
    members: Topic
    member_commands: Topic
    member_replies: Topic
    schemas: Topic
    achievements: Topic
    subscriptions: Topic
    progress: Topic
    webhooks: Topic
    webhooks_retry: tuple[Topic, ...]
    webhooks_dlq: Topic
    webhooks_attempts: Topic
    changelogs: tuple[Topic, ...]
    faust_leader: Topic

    def all(self) -> list[Topic]:
        singles = [
            self.custom_events,
            self.custom_events_dlq,
            self.custom_events_unmatched,
            self.custom_event_outcomes,
            self.member_events,
            self.members,
            self.member_commands,
            self.member_replies,
            self.schemas,
            self.achievements,
            self.subscriptions,
            self.progress,
            self.webhooks,
            self.webhooks_dlq,
            self.webhooks_attempts,
        ]
        return [*singles, *self.webhooks_retry, *self.changelogs, self.faust_leader]

    @property
    def control_plane(self) -> tuple[Topic, ...]:
        """Small compacted topics every process reads whole into memory."""
        return (self.schemas, self.achievements, self.subscriptions)

    def co_partitioned(self) -> tuple[Topic, ...]:
        """Topics joined with processor tables: their partition counts must match."""
        return (self.custom_events, self.member_events, *self.changelogs)


# The webhook sender's delay tiers, one topic each (names end with the tier). They are fixed, whatever
# the retry schedule: a record waits on the largest tier not longer than its remaining wait, then hops
# down the tiers until it is due (webhook_sender/schedule.py, docs/webhooks.md).
WEBHOOK_RETRY_DELAYS = ("1s", "5s", "30s", "2m", "10m", "1h")

TABLES = ("progress", "parked", "applied")
"""The processor's Faust tables; their changelogs are created with the other topics (processors/tables.py)."""


def build_topics(settings: Settings) -> Topics:
    p, n = settings.topic_prefix, settings.topic_partitions
    week = 7 * DAY_MS

    def event(name: str, purpose: str, *records: str, retention: int | None = week) -> Topic:
        return Topic(p + name, n, compact=False, retention_ms=retention, purpose=purpose, records=records)

    def compacted(name: str, purpose: str, record: str, partitions: int = n) -> Topic:
        return Topic(p + name, partitions, compact=True, purpose=purpose, records=(record,))

    app = settings.processor_app_id
    return Topics(
        custom_events=event(
            "custom-events",
            "Custom events and transactions from the API and from producers writing straight to Kafka",
            "CustomEvent",
            "ProcessorSignal",
            "Transaction",
            retention=settings.custom_events_retention_hours * 3600 * 1000,
        ),
        custom_events_dlq=event("custom-events.dlq", "Input records that could not be decoded or validated"),
        custom_events_unmatched=event("custom-events.unmatched", "Events whose member never registered", "CustomEvent"),
        custom_event_outcomes=Topic(
            p + "custom-event-outcomes",
            n,
            compact=True,
            retention_ms=settings.custom_events_retention_hours * 3600 * 1000,
            purpose="What became of each accepted event (counted, no effect + reason, parked, dead-lettered)",
            records=("CustomEventOutcome",),
        ),
        member_events=Topic(
            f"{app}-member-events",  # per processor app: a replay (new app id) repartitions on its own topic
            n,
            compact=False,
            retention_ms=week,
            internal=True,
            purpose="Internal: the processor's resolved events repartitioned by storeCode:customerId",
            records=("MemberEventBatch", "ProcessorSignal"),
        ),
        members=compacted("members", "Members by storeCode:customerId (tombstone = deleted)", "Member"),
        member_commands=event(
            "member-commands", "Internal: member registration/update requests from the API", "MemberCommand"
        ),
        member_replies=event(
            "member-replies", "Internal: the processor's answers to member commands", "MemberReply", retention=DAY_MS
        ),
        schemas=compacted(
            "custom-event-schemas", "Custom event schemas by storeCode:eventType", "CustomEventSchema", 1
        ),
        achievements=compacted("achievements", "Achievements by storeCode:achievementId", "Achievement", 1),
        subscriptions=compacted(
            "webhook-subscriptions", "Webhook subscriptions by storeCode:subscriptionId", "WebhookSubscription", 1
        ),
        progress=event(
            "achievement-progress",
            "MemberAchievementProgressChanged for downstream subscribers",
            "MemberAchievementProgressChanged",
        ),
        webhooks=event("webhooks", "Open Loyalty webhook envelopes to deliver", "WebhookMessage"),
        webhooks_retry=tuple(
            event(
                f"webhooks.retry.{delay}",
                f"Webhook deliveries waiting {delay} before their next attempt",
                "WebhookMessage",
            )
            for delay in WEBHOOK_RETRY_DELAYS
        ),
        webhooks_dlq=event(
            "webhooks.dlq", "Webhook deliveries that failed for good", "WebhookMessage", retention=30 * DAY_MS
        ),
        webhooks_attempts=event(
            "webhooks.attempts",
            "Log of every webhook delivery attempt (operations)",
            "WebhookMessage",
            retention=3 * DAY_MS,
        ),
        changelogs=tuple(
            Topic(
                f"{app}-{table}-changelog",
                n,
                compact=True,
                # The applied markers are kept for the dedup window: past it the changelog forgets them.
                retention_ms=settings.dedup_window_days * DAY_MS if table == "applied" else None,
                internal=True,
                purpose=f"Internal: changelog of the processor's {table} table",
            )
            for table in TABLES
        ),
        faust_leader=Topic(
            f"{app}-__assignor-__leader",
            1,
            compact=False,
            internal=True,
            purpose="Internal: faust's leader election for the processor group",
        ),
    )
