"""Avro schemas (``*.avsc``) of every record on every topic, and the one serde module that reads and writes them."""

from schemas.serde import DecodeError, Serde, codec_names

__all__ = ["DecodeError", "Serde", "codec_names"]
