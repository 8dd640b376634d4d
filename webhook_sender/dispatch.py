"""What happens to one message: fan-out to subscriptions, one attempt each, then deliver, retry or dead-letter.

Nothing here touches the consumer: each consumed record comes with a ``finish`` callback, called once
every delivery it started has ended as delivered, scheduled on a delay topic (write acknowledged) or
dead-lettered (write acknowledged). Only then may its offset be committed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loyalty_stream.config.settings import Settings
from loyalty_stream.kafka.keys import join_key
from loyalty_stream.kafka.topics import Topics
from schemas.serde import Serde
from webhook_sender import records
from webhook_sender.breaker import CircuitBreaker
from webhook_sender.delivery import Attempt, attempt, endpoint_host
from webhook_sender.destinations import Poster
from webhook_sender.lanes import Lane, Lanes
from webhook_sender.metrics import SenderMetrics
from webhook_sender.producing import AsyncProducer
from webhook_sender.records import Failure, Source
from webhook_sender.schedule import RetryPolicy, Tier, tier_for
from webhook_sender.subscriptions import SubscriptionView, signing_secrets

log = logging.getLogger(__name__)
Finish = Callable[[], None]


def now_ms() -> int:
    return int(time.time() * 1000)


class Countdown:
    """Calls ``finish`` once ``n`` deliveries have ended."""

    def __init__(self, n: int, finish: Finish) -> None:
        self.left, self._finish = n, finish
        if n <= 0:
            finish()

    def __call__(self) -> None:
        self.left -= 1
        if self.left == 0:
            self._finish()


@dataclass(frozen=True, slots=True)
class Delivery:
    message: dict[str, Any]  # messageId, eventName, storeCode, createdAt, data, customerId
    subscription: dict[str, Any]  # as it was at fan-out
    attempts: int  # attempts made before this one
    source: Source
    order_key: bytes | None  # first attempts keep per-(subscription, member) order
    finish: Finish

    @property
    def store(self) -> str:
        return str(self.message["storeCode"])

    @property
    def subscription_id(self) -> str:
        return str(self.subscription["subscriptionId"])


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        serde: Serde,
        topics: Topics,
        tiers: tuple[Tier, ...],
        subscriptions: SubscriptionView,
        producer: AsyncProducer,
        client: Poster,
        metrics: SenderMetrics,
    ) -> None:
        self.settings = settings
        self.serde = serde
        self.topics = topics
        self.tiers = tiers
        self.subs = subscriptions
        self.producer = producer
        self.client = client
        self.metrics = metrics
        self.policy = RetryPolicy.from_settings(settings)
        self.lanes = Lanes(
            settings.webhook_endpoint_concurrency,
            settings.webhook_endpoint_backlog,
            lambda: CircuitBreaker(settings.webhook_breaker_failures, settings.webhook_breaker_cooldown_seconds),
            ceiling=settings.webhook_max_in_flight // 2,
        )
        self.tasks: set[asyncio.Task[Any]] = set()
        metrics.circuits_open.set_function(
            lambda: sum(1 for _, lane in self.lanes.items() if lane.breaker.state != "closed")
        )

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- entry points -------------------------------------------------------------------------
    def fan_out(self, message: dict[str, Any], source: Source, finish: Finish) -> None:
        """A record of the webhooks topic: one delivery per subscription it has right now."""
        store = message["storeCode"]
        targeted = message.get("subscriptionId")
        if targeted:  # a test send or a resend: this subscription only, as it is now
            state, current = self.subs.get(store, targeted)
            if state != "active" or current is None:
                reason = records.SUBSCRIPTION_DELETED if state == "deleted" else records.SUBSCRIPTION_DISABLED
                self._spawn(
                    self._dead_letter(
                        message, current, Failure(reason, 0, error=f"subscription {state}"), source, finish
                    )
                )
                return
            subscriptions = [current]
        else:
            subscriptions = self.subs.for_event(store, message["eventName"])
        countdown = Countdown(len(subscriptions), finish)
        for subscription in subscriptions:
            self.submit(Delivery(message, dict(subscription), 0, source, source.key, countdown))

    def due(self, record: dict[str, Any], source: Source, finish: Finish) -> None:
        """A record of a delay topic whose wait is over (or that must hop to a shorter tier)."""
        remaining = int(record.get("dueAtMs") or 0) - now_ms()
        if remaining > 0:
            self._spawn(self._hop(record, remaining, source, finish))
            return
        snapshot = records.read_snapshot(record.get("subscriptionSnapshot"))
        if snapshot is None:  # written without one: use the subscription as it is now
            _state, snapshot = self.subs.get(record["storeCode"], record.get("subscriptionId") or "")
        if snapshot is None:
            self._spawn(
                self._dead_letter(
                    record,
                    None,
                    Failure(
                        records.SUBSCRIPTION_DELETED,
                        int(record.get("attempt") or 0),
                        record.get("lastStatus"),
                        "subscription deleted",
                    ),
                    source,
                    finish,
                )
            )
            return
        message = {k: record.get(k) for k in records.MESSAGE_FIELDS}
        self.submit(Delivery(message, snapshot, int(record.get("attempt") or 0), source, None, finish))

    def dead_letter_undecodable(self, value: bytes | None, source: Source, error: str, finish: Finish) -> None:
        self._spawn(self._dead_letter_raw(value, source, error, finish))

    def lane(self, delivery: Delivery) -> Lane:
        """One lane per subscription and URL: a changed URL starts with a closed circuit."""
        return self.lanes[f"{delivery.subscription_id} {delivery.subscription.get('url', '')}"]

    def submit(self, delivery: Delivery) -> None:
        if not delivery.source.ours():
            return  # revoked before its turn: the partition's new owner delivers it
        lane = self.lane(delivery)
        if lane.defers:  # the endpoint cannot keep up while others can: it waits on the delay topics
            self._spawn(self._defer_full(delivery, lane))
            return
        task = lane.submit(
            delivery.order_key,
            lambda: self._guarded(delivery, self._attempt(delivery)),
            lambda: self._defer_full(delivery, lane),
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _defer_full(self, delivery: Delivery, lane: Lane) -> None:
        if not delivery.source.ours():
            return  # a copy on the delay topics would be delivered besides the new owner's
        skipped = Attempt("deferred", None, "endpoint backlog full", lane.wait_estimate(), counts=False)
        await self._guarded(delivery, self._conclude(delivery, skipped))

    # -- one attempt --------------------------------------------------------------------------
    async def _guarded(self, delivery: Delivery, work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not lose the message: retry it like a failed attempt
            log.exception(
                "webhook delivery failed inside the sender", extra={"messageId": delivery.message["messageId"]}
            )
            await self._conclude(delivery, Attempt("retry", None, f"sender error: {type(exc).__name__}"))

    async def _attempt(self, delivery: Delivery) -> None:
        if not delivery.source.ours():
            return  # revoked while it waited in its lane: the new owner delivers it (no duplicate from here)
        state, current = self.subs.get(delivery.store, delivery.subscription_id)
        if state != "active":
            reason = records.SUBSCRIPTION_DELETED if state == "deleted" else records.SUBSCRIPTION_DISABLED
            failure = Failure(reason, delivery.attempts, error=f"subscription {state}")
            await self._dead_letter(delivery.message, delivery.subscription, failure, delivery.source, delivery.finish)
            return
        lane = self.lane(delivery)
        breaker = lane.breaker
        if not breaker.allow():
            skipped = Attempt("deferred", None, f"circuit open after {breaker.failures} failures: {breaker.last_error}")
            async with lane.deferring:
                await self._conclude(delivery, skipped)
            return
        host = endpoint_host(delivery.subscription.get("url", ""))
        self.metrics.in_flight.inc()
        try:
            result = await attempt(
                self.client,
                delivery.subscription,
                delivery.message,
                timeout=self.settings.webhook_timeout_seconds,
                secrets=signing_secrets(delivery.subscription, current),
            )
        finally:
            self.metrics.in_flight.dec()
        breaker.record(result.verdict != "retry", result.error)
        self.metrics.latency.labels(host).observe(result.seconds)
        await self._conclude(delivery, result)

    async def _conclude(self, delivery: Delivery, result: Attempt) -> None:
        number = delivery.attempts + (1 if result.counts else 0)
        message, subscription = delivery.message, delivery.subscription
        host = endpoint_host(subscription.get("url", ""))
        log.log(
            logging.DEBUG if result.verdict in ("delivered", "deferred") else logging.INFO,
            "webhook attempt",
            extra={
                "messageId": message["messageId"],
                "subscriptionId": delivery.subscription_id,
                "host": host,
                "attempt": number,
                "verdict": result.verdict,
                "status": result.status,
                "error": result.error,
            },
        )
        if result.verdict == "delivered":
            self.metrics.deliveries.labels(host).inc()
            self._log_attempt(delivery, number, result)
            delivery.finish()
            return
        self.metrics.failures.labels(host, _kind(result)).inc()
        if not result.counts:
            # Not tried, so not an attempt: back when the lane should have room, however often that takes
            # (a burst to a healthy endpoint must not walk the retry schedule to the DLQ untried). Due when
            # its tier's wait ends: one delay-topic record, never a hop to a shorter tier.
            tier = tier_for(self.tiers, int((result.retry_after or 1.0) * 1000))
            await self._retry_at(delivery, number, result, now_ms() + tier.delay_ms, host, tier)
            return
        if result.verdict in ("retry", "deferred"):
            if result.retry_after is not None and result.retry_after > self.policy.retry_after_max:
                reason, error = records.RETRY_AFTER_TOO_LONG, f"Retry-After {result.retry_after:.0f}s; {result.error}"
            else:
                delay = self.policy.next_delay(number, result.retry_after)
                if delay is not None:
                    await self._retry_at(delivery, number, result, now_ms() + int(delay * 1000 + 0.999), host)
                    return
                reason, error = records.RETRIES_EXHAUSTED, result.error
        elif result.verdict == "gone":
            await self.subs.disable(
                delivery.store, delivery.subscription_id, f"endpoint answered 410 Gone ({result.error})"
            )
            reason, error = records.GONE, result.error
        elif result.verdict == "refused":
            reason, error = records.DESTINATION_REFUSED, result.error
        else:
            reason, error = records.NOT_RETRYABLE, result.error
        self._log_attempt(delivery, number, result)
        failure = Failure(reason, number, result.status, error)
        await self._dead_letter(message, subscription, failure, delivery.source, delivery.finish)

    # -- writes -------------------------------------------------------------------------------
    async def _retry_at(
        self, delivery: Delivery, number: int, result: Attempt, due: int, host: str, tier: Tier | None = None
    ) -> None:
        """Log the attempt, put the delivery on the delay topics for ``due`` (on ``tier`` when the caller chose
        it, else the tier its wait fits), and finish it here."""
        self._log_attempt(delivery, number, result, due)
        await self._schedule(delivery, number, due, result, tier)
        self.metrics.retries.labels(host).inc()
        delivery.finish()

    async def _schedule(
        self, delivery: Delivery, attempts: int, due: int, last: Attempt, tier: Tier | None = None
    ) -> None:
        record = records.retry_record(delivery.message, delivery.subscription, attempts, due, last)
        tier = tier or tier_for(self.tiers, due - now_ms())
        await self.producer.send_acked(
            tier.topic.name, self.serde.encode_for(tier.topic, record), key=delivery.source.key
        )

    async def _hop(self, record: dict[str, Any], remaining: int, source: Source, finish: Finish) -> None:
        tier = tier_for(self.tiers, remaining)
        await self.producer.send_acked(tier.topic.name, self.serde.encode_for(tier.topic, record), key=source.key)
        finish()

    async def _dead_letter(
        self,
        message: dict[str, Any],
        subscription: dict[str, Any] | None,
        failure: Failure,
        source: Source,
        finish: Finish,
    ) -> None:
        record = records.dead_letter_record(message, subscription, failure, now_ms())
        host = endpoint_host((subscription or {}).get("url", ""))
        headers = records.dead_letter_headers(failure, record.get("subscriptionId"), source)
        reason = failure.reason
        await self.producer.send_acked(
            self.topics.webhooks_dlq.name,
            self.serde.encode_for(self.topics.webhooks_dlq, record),
            key=source.key,
            headers=headers,
        )
        self.metrics.dead_letters.labels(host, reason).inc()
        log.warning(
            "webhook dead-lettered",
            extra={
                "messageId": message.get("messageId"),
                "reason": reason,
                "subscriptionId": record.get("subscriptionId"),
            },
        )
        finish()

    async def _dead_letter_raw(self, value: bytes | None, source: Source, error: str, finish: Finish) -> None:
        headers = records.dead_letter_headers(Failure(records.UNDECODABLE, 0, error=error), None, source)
        await self.producer.send_acked(self.topics.webhooks_dlq.name, value, key=source.key, headers=headers)
        self.metrics.dead_letters.labels("unknown", records.UNDECODABLE).inc()
        finish()

    def _log_attempt(self, delivery: Delivery, number: int, result: Attempt, next_due: int = 0) -> None:
        started = now_ms() - int(result.seconds * 1000)
        record = records.attempt_record(delivery.message, delivery.subscription, number, result, started, next_due)
        self.producer.send_nowait(
            self.topics.webhooks_attempts.name,
            self.serde.encode_for(self.topics.webhooks_attempts, record),
            key=join_key(delivery.store, delivery.subscription_id),
        )


def _kind(result: Attempt) -> str:
    if result.status is not None:
        return f"{result.status // 100}xx" if result.status != 410 else "410"
    if result.verdict in ("deferred", "refused"):
        return result.verdict
    return "timeout" if (result.error or "").startswith("timeout") else "connection"
