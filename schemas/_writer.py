"""Avro binary encoders compiled from our schemas: straight-line Python per record type.

fastavro's ``schemaless_writer`` walks the schema for every record; for the processor's outputs (seven records
per counted event) that walk was a fifth of the worker's time (docs/benchmarks.md). Our schemas use only
primitives, ``["null", X]`` unions, records, arrays and maps, so each compiles to a function of plain byte
appends. The output is byte for byte fastavro's (``tests/unit/test_serde.py`` compares the two on generated
records of every schema); a schema using anything else is left to fastavro (``compile_writer`` returns None).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

Writer = Callable[[dict[str, Any]], bytes]

_PRIMITIVES = ("string", "long", "int", "boolean", "double")
_SMALL = [bytes([i << 1]) for i in range(64)]  # 0..63 zig-zag to one byte


def _varint(n: int) -> bytes:
    """Avro's zig-zag variable-length encoding of a long."""
    if 0 <= n < 64:
        return _SMALL[n]
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _string(value: str | bytes) -> bytes:
    """A string; given as UTF-8 bytes already (JSON from orjson), it is written as it is."""
    data = value if isinstance(value, bytes) else value.encode()
    return _varint(len(data)) + data


_double = struct.Struct("<d").pack


class _Source:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._names = 0

    def name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _supported(schema: Any) -> bool:
    if isinstance(schema, str):
        return schema in _PRIMITIVES
    if isinstance(schema, list):
        return len(schema) == 2 and schema[0] == "null" and _supported(schema[1])
    if isinstance(schema, dict):
        kind = schema.get("type")
        if kind == "record":
            return all(_supported(f["type"]) for f in schema["fields"])
        if kind == "array":
            return _supported(schema["items"])
        if kind == "map":
            return _supported(schema["values"])
        return kind in _PRIMITIVES
    return False


def _value(src: _Source, schema: Any, expr: str, depth: int) -> None:
    """Code appending the encoding of ``expr`` (a Python expression) to ``out``."""
    if isinstance(schema, dict) and schema.get("type") in _PRIMITIVES:
        schema = schema["type"]
    if schema == "string":
        # Inlined: most strings are shorter than 64 bytes, whose length is one byte (no call per field).
        var = src.name("s")
        src.add(depth, f"{var} = {expr}")
        src.add(depth, f"{var} = {var} if {var}.__class__ is bytes else {var}.encode()")
        src.add(depth, f"if len({var}) < 64:")
        src.add(depth + 1, f"out.append(len({var}) << 1)")
        src.add(depth, "else:")
        src.add(depth + 1, f"out += _varint(len({var}))")
        src.add(depth, f"out += {var}")
    elif schema in ("long", "int"):
        var = src.name("n")
        src.add(depth, f"{var} = {expr}")
        src.add(depth, f"if 0 <= {var} < 64:")
        src.add(depth + 1, f"out.append({var} << 1)")
        src.add(depth, "else:")
        src.add(depth + 1, f"out += _varint({var})")
    elif schema == "boolean":
        src.add(depth, f"out += b'\\x01' if {expr} else b'\\x00'")
    elif schema == "double":
        src.add(depth, f"out += _double({expr})")
    elif isinstance(schema, list):
        var = src.name("u")
        src.add(depth, f"{var} = {expr}")
        src.add(depth, f"if {var} is None:")
        src.add(depth + 1, "out += b'\\x00'")
        src.add(depth, "else:")
        src.add(depth + 1, "out += b'\\x02'")
        _value(src, schema[1], var, depth + 1)
    elif schema["type"] == "record":
        var = src.name("r")
        src.add(depth, f"{var} = {expr}")
        for field in schema["fields"]:
            if "default" in field:
                value = f"{var}.get({field['name']!r}, {field['default']!r})"
            else:
                value = f"{var}[{field['name']!r}]"
            _value(src, field["type"], value, depth)
    else:  # array or map: one block of all items, then the empty block
        var, item = src.name("c"), src.name("i")
        src.add(depth, f"{var} = {expr}")
        src.add(depth, f"if {var}:")
        src.add(depth + 1, f"out += _varint(len({var}))")
        if schema["type"] == "array":
            src.add(depth + 1, f"for {item} in {var}:")
            _value(src, schema["items"], item, depth + 2)
        else:
            key = src.name("k")
            src.add(depth + 1, f"for {key}, {item} in {var}.items():")
            src.add(depth + 2, f"out += _string({key})")
            _value(src, schema["values"], item, depth + 2)
        src.add(depth, "out += b'\\x00'")


def expand_references(schema: Any, named: dict[str, Any]) -> Any:
    """The schema with every reference to a record defined earlier in it replaced by that definition (a
    compiled writer only needs the shape; ProcessorSignal refers to its Member twice)."""
    if isinstance(schema, str):
        return named.get(schema, schema)
    if isinstance(schema, list):
        return [expand_references(s, named) for s in schema]
    if isinstance(schema, dict):
        if schema.get("type") == "record":
            out = {**schema, "fields": []}
            named[schema["name"]] = out  # fastavro's parsed names are full names
            if "namespace" in schema:
                named[f"{schema['namespace']}.{schema['name']}"] = out
            out["fields"] = [{**f, "type": expand_references(f["type"], named)} for f in schema["fields"]]
            return out
        if schema.get("type") == "array":
            return {**schema, "items": expand_references(schema["items"], named)}
        if schema.get("type") == "map":
            return {**schema, "values": expand_references(schema["values"], named)}
    return schema


def compile_writer(schema: dict[str, Any]) -> Writer | None:
    """An encoder for records of a (fastavro-parsed) record schema, or None if the schema needs fastavro."""
    schema = expand_references(schema, {})
    if not _supported(schema):
        return None
    src = _Source()
    src.add(0, "def write(record):")
    src.add(1, "out = bytearray()")
    _value(src, schema, "record", 1)
    src.add(1, "return bytes(out)")
    namespace: dict[str, Any] = {"_string": _string, "_varint": _varint, "_double": _double}
    exec(compile("\n".join(src.lines), f"<avro writer {schema.get('name')}>", "exec"), namespace)
    writer: Writer = namespace["write"]
    return writer
