"""Every record round-trips in both framings; old versions read with the current schema; garbage is a DecodeError."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas._writer import expand_references
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
    "Transaction": {"storeCode": "DEFAULT", "transaction": '{"header": {}}', "transactionId": None},
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
    "MemberEventBatch": {"events": '[{"customerId": "c", "storeCode": "DEFAULT", "customEventId": "e"}]'},
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


def _values(schema: object) -> st.SearchStrategy[object]:
    """Data of an Avro schema (the kinds our schemas use), for comparing encoders."""
    if isinstance(schema, list):
        return st.one_of(st.none(), _values(schema[1]))
    if isinstance(schema, dict) and schema["type"] == "record":
        return _records(schema)
    if isinstance(schema, dict) and schema["type"] == "array":
        return st.lists(_values(schema["items"]), max_size=4)
    if isinstance(schema, dict) and schema["type"] == "map":
        return st.dictionaries(st.text(max_size=8), _values(schema["values"]), max_size=4)
    kind = schema["type"] if isinstance(schema, dict) else schema
    return {
        "string": st.text(max_size=40),
        "long": st.integers(-(2**63), 2**63 - 1),
        "int": st.integers(-(2**31), 2**31 - 1),
        "boolean": st.booleans(),
        "double": st.floats(allow_nan=False),
    }[kind]


@st.composite
def _records(draw: st.DrawFn, schema: dict) -> dict:
    """A record with every required field and a random part of the fields that have defaults."""
    out = {}
    for field in schema["fields"]:
        if "default" not in field or draw(st.booleans()):
            out[field["name"]] = draw(_values(field["type"]))
    return out


@pytest.mark.parametrize("name", sorted(SAMPLES))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_compiled_writers_write_what_fastavro_writes(name: str, data: st.DataObject) -> None:
    """schemas/_writer.py: byte for byte fastavro's encoding, on generated records of every schema."""
    serde = Serde()
    codec = serde.codec(name)
    assert codec.writer is not None, f"{name} is not compiled"
    record = data.draw(_records(expand_references(json.loads(codec.raw), {})))
    assert serde.encode(name, record) == Serde.encode_with_fastavro(codec, record, codec.header)
    assert serde.encode(name, SAMPLES[name]) == Serde.encode_with_fastavro(codec, SAMPLES[name], codec.header)


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


def test_topics_carry_record_types_the_serde_knows() -> None:
    from loyalty_stream.config.settings import Settings
    from loyalty_stream.kafka.topics import build_topics

    topics = build_topics(Settings())
    carried = {name for topic in topics.all() for name in topic.records}
    assert carried <= set(codec_names())
    assert topics.custom_events.records == ("CustomEvent", "ProcessorSignal", "Transaction")
    assert topics.webhooks.records == ("WebhookMessage",)


def test_a_record_cannot_be_encoded_for_a_topic_that_does_not_carry_it() -> None:
    from loyalty_stream.config.settings import Settings
    from loyalty_stream.kafka.topics import build_topics
    from schemas.serde import WrongRecordType

    serde, topics = Serde(), build_topics(Settings())
    member = SAMPLES["Member"]
    assert serde.encode_for(topics.members, member) == serde.encode("Member", member)
    with pytest.raises(WrongRecordType, match="carries WebhookMessage, not Member"):
        serde.encode_for(topics.webhooks, member, "Member")
    with pytest.raises(WrongRecordType, match="carries no records of ours"):
        serde.encode_for(topics.custom_events_dlq, member)
    signal = {"kind": "tick", "storeCode": "", "sentAt": "2024-05-01T00:00:00.000Z"}
    name, _ = serde.decode(serde.encode_for(topics.custom_events, signal, "ProcessorSignal"))
    assert name == "ProcessorSignal"


def test_services_encode_for_topics_not_by_type_name() -> None:
    """No service passes a record type name to ``Serde.encode``: they name the topic (``encode_for``)."""
    import ast

    root = Path(__file__).resolve().parents[2]
    calls = []
    for package in ("ingest_api", "processors", "webhook_sender", "loyalty_stream"):
        for path in (root / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                by_name = bool(node.args) and isinstance(node.args[0], ast.Constant)
                if node.func.attr == "encode" and ast.unparse(node.func.value).endswith("serde") and by_name:
                    calls.append(f"{path.relative_to(root)}:{node.lineno}")
    assert calls == []
