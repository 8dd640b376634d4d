"""The bench's webhook receiver, in its own process: ``python -m bench.receiver OUT PORT HOST...``.

The project's receiver (loyalty_stream/tools/receiver.py: always 200, nothing kept in memory); every request
becomes a line ``<epoch seconds> <eventId or ->`` in OUT, flushed every 0.2 s. Several loopback hosts make
that many webhook destinations.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from loyalty_stream.tools.receiver import Received, Receiver

EVENT_ID = b'"eventId":"'


def event_id(body: bytes) -> str:
    start = body.find(EVENT_ID)
    if start < 0:
        return "-"
    start += len(EVENT_ID)
    return body[start : body.find(b'"', start)].decode()


async def serve(path: str, port: int, hosts: list[str]) -> None:
    lines: list[str] = []

    def book(request: Received) -> None:
        lines.append(f"{request.at:.6f} {event_id(request.body)}\n")

    receiver = Receiver(keep=False, on_request=book, hosts=hosts, port=port)
    await receiver.open()
    loop = asyncio.get_running_loop()
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
    await receiver.close()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:] or ["127.0.0.1"]))
