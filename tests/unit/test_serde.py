"""Every record round-trips in both framings; old versions read with the current schema; garbage is a DecodeError."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest

from schemas.serde import DecodeError, Serde, codec_names, schema_path, single_object_header

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

SAMPLES = {
    "CustomEvent": {
        "storeCode": "DEFAULT",
        "type": "app_login",
        "eventDate": "2024-05-01T00:00:00",
        "customerData": {"customerId": None, "email": "a@b.c", "phone": None, "loyaltyCardNumber": None},
        "body": '{"x": 1}',
        "eventId": "e-1",
    },
    "Member": {"storeCode": "DEFAULT", "customerId": "7f0c0f5e-1111-4c6f-9a53-3b3b8f0e7d11", "email": "a@b.c"},
    "CustomEventSchema": {
        "storeCode": "DEFAULT",
        "eventType": "app_login",
        "name": "Login",
        "fields": [{"name": "minutes", "type": "number", "description": ""}],
    },
    "Achievement": {"storeCode": "DEFAULT", "achievementId": "a-1", "definition": "{}"},
    "WebhookSubscription": {
        "storeCode": "DEFAULT",
        "subscriptionId": "s-1",
        "eventName": "AchievementCreated",
        "url": "http://127.0.0.1/x",
        "headers": [{"headerName": "X", "headerValue": "1"}],
    },
    "MemberAchievementProgressChanged": {
        "messageId": "m",
        "storeCode": "DEFAULT",
        "customerId": "c",
        "achievementId": "a",
        "triggerId": "t",
        "createdAt": "now",
        "payload": "{}",
    },
    "CustomEventOutcome": {
        "storeCode": "DEFAULT",
        "customEventId": "c",
        "type": "app_login",
        "eventDate": "2024-05-01T00:00:00Z",
        "customerData": {"customerId": None, "email": "a@b.c", "phone": None, "loyaltyCardNumber": None},
        "status": "counted",
        "decidedAt": "now",
    },
    "ProcessorSignal": {"kind": "tick", "storeCode": "", "customerId": None, "member": None, "sentAt": "now"},
    "MemberCommand": {
        "requestId": "r",
        "op": "register",
        "storeCode": "DEFAULT",
        "customerId": "c",
        "member": None,
        "sentAt": "now",
    },
    "MemberReply": {
        "requestId": "r",
        "storeCode": "DEFAULT",
        "customerId": "c",
        "op": "register",
        "accepted": False,
        "errors": [{"path": "customer.email", "message": "taken", "code": "already_used"}],
        "sentAt": "now",
    },
    "WebhookMessage": {
        "messageId": "m",
        "eventName": "AchievementCreated",
        "storeCode": "DEFAULT",
        "createdAt": "now",
        "data": "{}",
    },
}


def test_every_schema_has_a_sample() -> None:
    assert sorted(SAMPLES) == codec_names()


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("registry", ["", "mock://serde-test"])
def test_round_trip(name: str, registry: str) -> None:
    serde = Serde(registry)
    data = serde.encode(name, SAMPLES[name])
    assert data[:2] == b"\xc3\x01" if not registry else data[:1] == b"\x00"
    decoded_name, record = serde.decode(data)
    assert decoded_name == name
    for key, value in SAMPLES[name].items():
        assert record[key] == value


@pytest.mark.parametrize("released", sorted((SCHEMAS / "released").glob("*.avsc")), ids=lambda p: p.name)
def test_current_schema_reads_every_released_version(released: Path) -> None:
    """Schemas evolve only in backward-compatible steps: data written with any release still reads."""
    writer = fastavro.parse_schema(json.loads(released.read_text()))
    name = writer["name"].rsplit(".", 1)[-1]
    out = io.BytesIO()
    fastavro.schemaless_writer(out, writer, SAMPLES[name])
    decoded_name, record = Serde().decode(single_object_header(writer) + out.getvalue())
    assert decoded_name == name
    current = json.loads(schema_path(writer["name"]).read_text())
    assert set(record) == {f["name"] for f in current["fields"]}


def test_json_only_where_allowed() -> None:
    serde = Serde()
    assert serde.decode(b' {"storeCode": "X"}', expect="CustomEvent", allow_json=True)[1] == {"storeCode": "X"}
    with pytest.raises(DecodeError) as err:
        serde.decode(b'{"storeCode": "X"}', expect="CustomEvent")
    assert err.value.reason == "unknown_framing"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_value"),
        (None, "empty_value"),
        (b"\xc3\x01" + b"\x00" * 8 + b"x", "unknown_schema"),
        (b"garbage", "unknown_framing"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "unknown_framing"),
        (b"\x00\x00\x00\x00\x01abc", "no_schema_registry"),
    ],
)
def test_garbage_is_a_decode_error(data: bytes | None, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        Serde().decode(data, expect="CustomEvent", allow_json=True)
    assert err.value.reason == reason


def test_truncated_avro_is_invalid_avro() -> None:
    serde = Serde()
    data = serde.encode("CustomEvent", SAMPLES["CustomEvent"])
    with pytest.raises(DecodeError) as err:
        serde.decode(data[:14])
    assert err.value.reason == "invalid_avro"


def test_wrong_record_type_is_rejected() -> None:
    serde = Serde()
    with pytest.raises(DecodeError) as err:
        serde.decode(serde.encode("Member", SAMPLES["Member"]), expect="CustomEvent")
    assert err.value.reason == "unexpected_record_type"
