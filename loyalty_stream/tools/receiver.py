"""The one webhook receiver: ``loyalty-stream receive`` (prints what arrives), the tests (record requests and
answer as told) and the bench (a line per delivery, as cheaply as possible) all use ``Receiver``.

An asyncio protocol speaking HTTP/1.1 with keep-alive and Content-Length bodies, on one or more loopback
addresses (127.0.0.1 … 127.0.0.50 make that many webhook destinations, each with its own connection pool in
the sender). It answers 200 at once unless a ``responder`` decides the status; a responder may block (a
hanging endpoint), so it runs on a thread pool, and the requests of one connection are answered in order. A
request whose body never arrives in full (the sender killed mid-request) is not a delivery and is not kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    at: float  # time.time() when it arrived

    def json(self) -> Any:
        return json.loads(self.body)


Responder = Callable[[Received, int], tuple[int, dict[str, str]]]
"""(request, index among the requests to its path) → (status, extra headers)."""

_BODY = b"{}"


def _response(status: int, headers: dict[str, str]) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += ["Content-Type: application/json", f"Content-Length: {len(_BODY)}", "", ""]
    return "\r\n".join(lines).encode() + _BODY


_OK = _response(200, {})


class _Connection(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.busy = False  # a responder is deciding the answer to this connection's current request
        self.deciding: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._serve()

    def _serve(self) -> None:
        while not self.busy and self.transport is not None and not self.transport.is_closing():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            parts = head[0].split(" ")
            request = Received(parts[1] if len(parts) > 1 else "/", headers, body, time.time())
            index = self.receiver.arrived(request)
            responder = self.receiver.responder
            if responder is None:
                self._answer(_OK, headers)
            else:
                self.busy = True
                self.transport.pause_reading()
                self.deciding = asyncio.ensure_future(self._decide(responder, request, index))

    async def _decide(self, responder: Responder, request: Received, index: int) -> None:
        loop = asyncio.get_running_loop()
        status, extra = await loop.run_in_executor(self.receiver.pool, responder, request, index)
        self.busy = False
        if self.transport is not None and not self.transport.is_closing():
            self._answer(_response(status, extra), request.headers)
            self.transport.resume_reading()
            self._serve()

    def _answer(self, response: bytes, headers: dict[str, str]) -> None:
        assert self.transport is not None
        self.transport.write(response)
        if headers.get("connection", "").lower() == "close":
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


class Receiver:
    """Webhook receiver on ``hosts`` at ``port`` (0: a free one; one host then). ``keep`` records every request
    in ``received`` (``wait_for`` waits on them); ``on_request`` is called with each, on the receiver's loop."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        keep: bool = True,
        on_request: Callable[[Received], None] | None = None,
        hosts: Sequence[str] = ("127.0.0.1",),
        port: int = 0,
    ) -> None:
        self.responder = responder
        self.received: list[Received] = []
        self._keep = keep
        self._on_request = on_request
        self._hosts = tuple(hosts)
        self._port = port
        self._lock = threading.Condition()
        self._counts: dict[str, int] = {}
        self._servers: list[asyncio.Server] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="receiver")

    # -- where it listens -------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._servers[0].sockets[0].getsockname()[1])

    def url(self, path: str = "/hook", host: str | None = None) -> str:
        return f"http://{host or self._hosts[0]}:{self.port}{path}"

    # -- running ----------------------------------------------------------------------------------------
    async def open(self) -> None:
        """Listen, on the running loop."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        for host in self._hosts:
            server = await loop.create_server(lambda: _Connection(self), host, self._port, backlog=1024)
            self._servers.append(server)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> Receiver:
        """Listen on a thread of its own (the tests'); returns once it listens."""
        opened = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.open())
            opened.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            pending = asyncio.all_tasks(loop)  # answers still waiting on a responder: nobody to give them to
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.wait(pending))
            loop.close()

        self._thread = threading.Thread(target=run, name="receiver", daemon=True)
        self._thread.start()
        opened.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    # -- what arrived -----------------------------------------------------------------------------------
    def arrived(self, request: Received) -> int:
        """Book a request; its index among the requests to its path."""
        with self._lock:
            index = self._counts.get(request.path, 0)
            self._counts[request.path] = index + 1
            if self._keep:
                self.received.append(request)
                self._lock.notify_all()
        if self._on_request is not None:
            self._on_request(request)
        return index

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


def _show(request: Received) -> None:
    try:
        shown = json.dumps(request.json(), indent=2)
    except ValueError:
        shown = request.body.decode(errors="replace")
    print(f"--- POST {request.path}\n{shown}", flush=True)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """``loyalty-stream receive``: print every webhook that arrives until Ctrl-C."""
    receiver = Receiver(keep=False, on_request=_show, hosts=[host], port=port)

    async def main() -> None:
        await receiver.open()
        print(f"receiving webhooks on {receiver.url('/')} (Ctrl-C stops)", file=sys.stderr, flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await receiver.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
