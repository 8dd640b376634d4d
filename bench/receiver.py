"""A fast webhook receiver for the bench, run in its own process: ``python -m bench.receiver OUT PORT HOST...``.

A bare asyncio protocol (HTTP/1.1 keep-alive, Content-Length bodies, always 200) so the receiver costs as
little CPU as possible. Every request becomes a line ``<epoch seconds> <eventId or ->`` in OUT, flushed every
0.2 s; listening on several loopback addresses (127.0.0.1 … 127.0.0.50) makes that many webhook
destinations, each with its own connection pool in the sender.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
EVENT_ID = b'"eventId":"'


def event_id(body: bytes) -> str:
    start = body.find(EVENT_ID)
    if start < 0:
        return "-"
    start += len(EVENT_ID)
    return body[start : body.find(b'"', start)].decode()


class Hook(asyncio.Protocol):
    def __init__(self, out: list[str]) -> None:
        self.out = out
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.out.append(f"{time.time():.6f} {event_id(body)}\n")
            assert self.transport is not None
            self.transport.write(RESPONSE)


async def serve(path: str, port: int, hosts: list[str]) -> None:
    lines: list[str] = []
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(lambda: Hook(lines), host, port, backlog=1024) for host in hosts]
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    with open(path, "a") as out:
        while not stopping.is_set():
            await asyncio.sleep(0.2)
            if lines:
                batch, lines[:] = lines[:], []
                out.write("".join(batch))
                out.flush()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:] or ["127.0.0.1"]))
