"""Encode and decode every record on our topics.

Framing, chosen on the first bytes when decoding:

- ``C3 01`` + 8-byte CRC-64-AVRO fingerprint: Avro single-object encoding (default; needs no registry).
  Fingerprints of the current and every released version of each schema are known, so old data reads
  with the current reader schema.
- ``00`` + 4-byte schema id: Confluent wire format (written when a Schema Registry URL is set).
- ``{``: JSON, accepted only where the caller allows it (the custom-events input topic).

Anything else, or bytes that do not parse, raise :class:`DecodeError` carrying a reason code for the
dead-letter topic; a decode never crashes a worker.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import fastavro
import orjson
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from loyalty_stream.domain.errors import LoyaltyError
from schemas._writer import Writer, compile_writer

_DIR = Path(__file__).parent
SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"


class DecodeError(LoyaltyError, ValueError):
    """A record we cannot read. ``reason`` is the dead-letter reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class WrongRecordType(LoyaltyError, ValueError):
    """A record offered to a topic that does not carry its type (a bug in the caller, never data)."""


class CarriesRecords(Protocol):
    """A topic as the serde sees it (``loyalty_stream/kafka/topics.py``'s ``Topic``)."""

    @property
    def name(self) -> str: ...

    @property
    def records(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class Codec:
    """One record type: its current (reader) schema and the fingerprints it can read."""

    name: str  # short name, e.g. "CustomEvent"
    schema: Any  # parsed fastavro schema
    header: bytes  # single-object header of the current schema
    raw: str  # the schema JSON, for registries
    writer: Writer | None = None  # compiled encoder (schemas/_writer.py); None: fastavro encodes


def single_object_header(parsed_schema: Any) -> bytes:
    """``C3 01`` + the schema's CRC-64-AVRO fingerprint (little-endian, as fastavro gives it)."""
    return SINGLE_OBJECT_MAGIC + bytes.fromhex(fingerprint(to_parsing_canonical_form(parsed_schema), "CRC-64-AVRO"))


def _parse(path: Path) -> tuple[Any, bytes]:
    # The parse hint stays on the schema: without it fastavro re-parses the schema on every record (~30 us).
    parsed = parse_schema(json.loads(path.read_text()))
    return parsed, single_object_header(parsed)


@cache
def _codecs() -> tuple[dict[str, Codec], dict[bytes, tuple[str, Any]]]:
    """Parse every schema once: codecs by name, and writer schemas by single-object header."""
    codecs: dict[str, Codec] = {}
    writers: dict[bytes, tuple[str, Any]] = {}
    for path in sorted(_DIR.glob("*.avsc")):
        schema, header = _parse(path)
        name = schema["name"].rsplit(".", 1)[-1]
        raw = path.read_text()
        codecs[name] = Codec(name, schema, header, raw, compile_writer(json.loads(raw)))
        writers[header] = (name, schema)
    for path in sorted((_DIR / "released").glob("*.avsc")):
        schema, header = _parse(path)
        writers.setdefault(header, (schema["name"].rsplit(".", 1)[-1], schema))
    return codecs, writers


def codec_names() -> list[str]:
    return sorted(_codecs()[0])


def schema_path(name: str) -> Path:
    """The current ``.avsc`` of a record type, by short or full name."""
    short = name.rsplit(".", 1)[-1]
    for path in _DIR.glob("*.avsc"):
        if json.loads(path.read_text())["name"] == short:
            return path
    raise KeyError(name)


class Serde:
    """Encoder/decoder for all record types; Confluent framing when ``registry_url`` is set."""

    def __init__(self, registry_url: str = "") -> None:
        self._codecs, self._writers = _codecs()
        self._registry_url = registry_url
        self._registry: Any = None
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, Any] = {}

    def codec(self, name: str) -> Codec:
        return self._codecs[name]

    def _client(self) -> Any:
        if self._registry is None:
            from confluent_kafka.schema_registry import SchemaRegistryClient

            self._registry = SchemaRegistryClient.new_client({"url": self._registry_url})
        return self._registry

    def _schema_id(self, codec: Codec) -> int:
        if codec.name not in self._ids:
            from confluent_kafka.schema_registry import Schema

            # Subject = record full name (RecordNameStrategy): one record type may travel on several topics.
            subject = f"io.loyaltystream.{codec.name}"
            self._ids[codec.name] = self._client().register_schema(subject, Schema(codec.raw, "AVRO"))
        return self._ids[codec.name]

    def encode_for(self, topic: CarriesRecords, record: dict[str, Any], record_type: str | None = None) -> bytes:
        """``record`` encoded as a record type ``topic`` carries (its first unless ``record_type`` says)."""
        name = record_type or (topic.records[0] if topic.records else "")
        if name not in topic.records:
            raise WrongRecordType(
                f"{topic.name} carries {', '.join(topic.records) or 'no records of ours'}, not {name}"
            )
        return self.encode(name, record)

    def encode(self, name: str, record: dict[str, Any]) -> bytes:
        codec = self._codecs[name]
        header = CONFLUENT_MAGIC + struct.pack(">I", self._schema_id(codec)) if self._registry_url else codec.header
        if codec.writer is not None:
            return header + codec.writer(record)
        return self.encode_with_fastavro(codec, record, header)

    @staticmethod
    def encode_with_fastavro(codec: Codec, record: dict[str, Any], header: bytes = b"") -> bytes:
        out = io.BytesIO()
        out.write(header)
        fastavro.schemaless_writer(out, codec.schema, record)
        return out.getvalue()

    def decode(
        self, data: bytes | None, *, expect: str | None = None, allow_json: bool = False
    ) -> tuple[str, dict[str, Any]]:
        """Return (record type name, record). ``expect`` restricts the accepted type."""
        if not data:
            raise DecodeError("empty_value", "the record has no value")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            name, record = self._decode_single_object(data, expect)
        elif data[:1] == CONFLUENT_MAGIC:
            name, record = self._decode_confluent(data, expect)
        elif allow_json and data.lstrip()[:1] == b"{":
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise DecodeError("invalid_json", f"invalid JSON: {exc}") from exc
            if not isinstance(value, dict):
                raise DecodeError("invalid_json", "the JSON value is not an object")
            return expect or "json", value
        else:
            raise DecodeError("unknown_framing", f"unknown framing: first bytes {data[:2].hex()}")
        if expect is not None and name != expect:
            raise DecodeError("unexpected_record_type", f"expected {expect}, got {name}")
        return name, record

    def _read(self, payload: bytes, writer: Any, reader: Any) -> dict[str, Any]:
        try:
            record: dict[str, Any] = fastavro.schemaless_reader(io.BytesIO(payload), writer, reader)
        except Exception as exc:  # fastavro raises many kinds on garbage; all mean "undecodable"
            raise DecodeError("invalid_avro", f"Avro payload does not match its schema: {exc!r}") from exc
        return record

    def _decode_single_object(self, data: bytes, expect: str | None) -> tuple[str, dict[str, Any]]:
        header = data[:10]
        found = self._writers.get(header)
        if found is None:
            raise DecodeError("unknown_schema", f"unknown schema fingerprint {header[2:].hex()}")
        name, writer = found
        return name, self._read(data[10:], writer, self._codecs[name].schema)

    def _decode_confluent(self, data: bytes, expect: str | None) -> tuple[str, dict[str, Any]]:
        if not self._registry_url:
            raise DecodeError("no_schema_registry", "Confluent-framed record but no schema registry is configured")
        if len(data) < 5:
            raise DecodeError("invalid_avro", "Confluent header truncated")
        (schema_id,) = struct.unpack(">I", data[1:5])
        if schema_id not in self._by_id:
            try:
                schema = self._client().get_schema(schema_id)
            except Exception as exc:
                raise DecodeError("unknown_schema", f"schema id {schema_id} not found: {exc}") from exc
            self._by_id[schema_id] = parse_schema(json.loads(schema.schema_str))
        writer = self._by_id[schema_id]
        name = writer["name"].rsplit(".", 1)[-1]
        if name not in self._codecs:
            raise DecodeError("unexpected_record_type", f"unknown record type {name}")
        return name, self._read(data[5:], writer, self._codecs[name].schema)
