"""The tests' webhook receiver: the project's own (loyalty_stream/tools/receiver.py), on 127.0.0.1 in a thread."""

from __future__ import annotations

from loyalty_stream.tools.receiver import Received, Receiver, Responder, on_path

__all__ = ["Received", "Receiver", "Responder", "on_path"]
