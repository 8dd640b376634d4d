"""The one webhook receiver (loyalty_stream/tools/receiver.py), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import threading

import httpx

from loyalty_stream.tools.receiver import Receiver, on_path


def test_it_records_requests_and_answers_as_its_responder_says() -> None:
    receiver = Receiver(responder=lambda r, n: (503, {"Retry-After": "1"}) if n == 0 else (200, {})).start()
    try:
        with httpx.Client() as client:  # one keep-alive connection for all of them
            answers = [client.post(receiver.url("/a"), json={"n": i}) for i in range(3)]
            other = client.post(receiver.url("/b?x=1"), content=b"raw", headers={"X-Thing": "1"})
        assert [a.status_code for a in answers] == [503, 200, 200]
        assert answers[0].headers["retry-after"] == "1" and answers[1].json() == {}
        assert other.status_code == 503, "the first request to /b?x=1 is index 0 of its path"
        got = receiver.wait_for(lambda r: len(r) == 4, timeout=10)
        assert [r.json()["n"] for r in on_path(got, "/a")] == [0, 1, 2]
        assert on_path(got, "/b")[0].headers["x-thing"] == "1" and on_path(got, "/b")[0].body == b"raw"
    finally:
        receiver.stop()


def test_a_hanging_endpoint_does_not_hold_up_another_and_a_cut_request_is_not_kept() -> None:
    release = threading.Event()
    hanging = Receiver(responder=lambda _r, _n: (release.wait(30), (200, {}))[1]).start()
    healthy = Receiver().start()
    try:
        stuck = threading.Thread(target=lambda: httpx.post(hanging.url(), json={}, timeout=30))
        stuck.start()
        hanging.wait_for(lambda r: len(r) == 1, timeout=10)
        assert httpx.post(healthy.url(), json={}, timeout=5).status_code == 200
        release.set()
        stuck.join(10)
        with socket.create_connection(("127.0.0.1", healthy.port)) as sock:  # a sender killed mid-request
            sock.sendall(b'POST /cut HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"half":')
        assert httpx.post(healthy.url("/after"), json={}, timeout=5).status_code == 200
        assert [r.path for r in healthy.received] == ["/hook", "/after"]
    finally:
        release.set()
        hanging.stop()
        healthy.stop()
