"""A real HTTP webhook receiver on 127.0.0.1, served in a thread, recording every request."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Received, int], tuple[int, dict[str, str]]]
"""(request, index among requests to this path) → (status, headers)."""


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client killed mid-request (the chaos tests kill the sender) is expected, not worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Receiver:
    responder: Responder = lambda _r, _n: (200, {})
    received: list[Received] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                if len(data) < length:
                    return  # the sender went away mid-request (killed): not a delivery
                request = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, data, time.time())
                with receiver._lock:
                    index = sum(1 for r in receiver.received if r.path == request.path)
                    receiver.received.append(request)
                    receiver._lock.notify_all()
                status, headers = receiver.responder(request, index)
                body = b"{}"
                self.send_response(status)
                for name, value in {
                    **headers,
                    "Content-Type": "application/json",
                    "Content-Length": str(len(body)),
                }.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"receiver: condition not met after {timeout}s; got {len(self.received)} requests"
                    )
                self._lock.wait(remaining)
            return list(self.received)


def on_path(received: list[Received], path: str) -> list[Received]:
    """The requests that arrived on ``path`` (without its query), in arrival order."""
    return [r for r in received if r.path.split("?")[0] == path]
