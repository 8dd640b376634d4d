"""The control plane's index of active subscriptions by store and event name follows every change."""

from __future__ import annotations

from typing import Any

from loyalty_stream.config.settings import Settings
from loyalty_stream.replicas.controlplane import ControlPlane
from schemas.serde import Serde

PROGRESS = "MemberAchievementProgressWasChanged"


def sub(n: int, event: str = PROGRESS, **kw: Any) -> dict[str, Any]:
    return {"subscriptionId": f"s{n}", "eventName": event, "url": f"https://{n}.example.com/", **kw}


def change(control: ControlPlane, store: str, record: dict[str, Any] | None, n: int) -> None:
    """What the mirror thread does with a record of the subscriptions topic."""
    if record is None:
        control.subscriptions.pop((store, f"s{n}"), None)
    else:
        control.subscriptions[(store, f"s{n}")] = record
    control.version += 1


def test_active_subscriptions_by_store_and_event_follow_changes() -> None:
    control = ControlPlane(Settings(), Serde())
    assert control.subscriptions_for("A", PROGRESS) == [] and not control.has_subscription("A", PROGRESS)
    change(control, "A", sub(1), 1)
    change(control, "A", sub(2, "TransactionRegistered"), 2)
    change(control, "B", sub(3), 3)
    change(control, "A", sub(4), 4)
    assert [s["subscriptionId"] for s in control.subscriptions_for("A", PROGRESS)] == ["s1", "s4"]
    assert control.has_subscription("A", "TransactionRegistered") and not control.has_subscription("B", "X")
    change(control, "A", sub(1, status="disabled"), 1)
    change(control, "A", None, 2)
    assert [s["subscriptionId"] for s in control.subscriptions_for("A", PROGRESS)] == ["s4"]
    assert not control.has_subscription("A", "TransactionRegistered")
    assert [s["subscriptionId"] for s in control.subscriptions_for("B", PROGRESS)] == ["s3"]
    # what a caller does with the list it gets does not change the index
    control.subscriptions_for("B", PROGRESS).clear()
    assert len(control.subscriptions_for("B", PROGRESS)) == 1
