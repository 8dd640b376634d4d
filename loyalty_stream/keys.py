"""Record keys: ``storeCode:id`` on every keyed topic."""

from __future__ import annotations


def split_key(key: bytes | None) -> tuple[str, str] | None:
    if not key:
        return None
    store, sep, ident = key.decode("utf-8", "replace").partition(":")
    return (store, ident) if sep else None


def join_key(store: str, ident: str) -> bytes:
    return f"{store}:{ident}".encode()
