"""Readiness checks shared by the services."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient


def group_is_active(client: AdminClient, group: str, timeout: float = 2.0) -> bool:
    """True when the consumer group has at least one member (a worker is running somewhere)."""
    try:
        description = client.describe_consumer_groups([group], request_timeout=timeout)[group].result()
    except Exception:
        return False
    return len(description.members) > 0
