"""Connection limits on a real bridge: slow-loris clients, idle and keep-alive connections,
stalled bodies and the connection cap, while /v1/health keeps answering."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

from plugin_bridge.server import RunningBridge


def closed_by_server(sock: socket.socket, within_s: float) -> tuple[bool, bytes]:
    """Read until the server closes `sock` (True) or `within_s` passes (False); returns what
    was received."""
    sock.settimeout(0.1)
    received = b""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received
        if not data:
            return True, received
        received += data
    return False, received


def health_time(bridge: RunningBridge) -> float:
    """Seconds one /v1/health round trip takes on a new connection (raises if it fails)."""
    start = time.perf_counter()
    assert bridge.client(timeout_s=10).health()["ready"] is True
    return time.perf_counter() - start


def open_sockets(bridge: RunningBridge, count: int) -> list[socket.socket]:
    return [socket.create_connection(("127.0.0.1", bridge.port), timeout=10) for _ in range(count)]


def test_slow_loris_clients_are_cut_off_while_health_answers(start_bridge: Any) -> None:
    bridge = start_bridge(header_timeout_s=1.0)
    slow = open_sockets(bridge, 50)
    head = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\nX-Slow: ".encode()
    for sock in slow:
        sock.sendall(head)
    stop = threading.Event()

    def drip() -> None:  # one more header byte every 0.2 s on every connection, for at most 6 s
        for _ in range(30):
            if stop.wait(0.2):
                return
            for sock in slow:
                with contextlib.suppress(OSError):  # the server may have cut it off already
                    sock.sendall(b"a")

    dripper = threading.Thread(target=drip)
    dripper.start()
    try:
        started = time.monotonic()
        timings = [health_time(bridge) for _ in range(5)]
        assert max(timings) < 2.0, "health answers while slow clients hold connections"
        outcomes = [closed_by_server(sock, 5.0 - (time.monotonic() - started)) for sock in slow]
    finally:
        stop.set()
        dripper.join()
        for sock in slow:
            sock.close()
    assert all(closed for closed, _ in outcomes), "every slow-loris connection is cut off"
    replies = [received for _, received in outcomes]
    assert replies[0].startswith(b"HTTP/1.1 408 ")
    assert json.loads(replies[0].partition(b"\r\n\r\n")[2])["code"] == "request_timeout"
    assert health_time(bridge) < 2.0


def test_idle_and_keep_alive_connections_are_closed(start_bridge: Any) -> None:
    bridge = start_bridge(header_timeout_s=1.0, keep_alive_s=0.5)
    idle = open_sockets(bridge, 30)  # connected, never a byte sent
    kept = socket.create_connection(("127.0.0.1", bridge.port), timeout=10)
    kept.sendall(f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\n\r\n".encode())
    reply = b""
    while b'"ready"' not in reply:
        reply += kept.recv(65536)
    assert reply.startswith(b"HTTP/1.1 200 ")
    try:
        closed, _ = closed_by_server(kept, 3.0)
        assert closed, "an idle keep-alive connection is closed after keep_alive_s"
        results = [closed_by_server(sock, 3.0) for sock in idle]
        assert all(closed for closed, _ in results), "connections that never send are closed"
        assert all(received == b"" for _, received in results), "silently, nothing was asked"
    finally:
        kept.close()
        for sock in idle:
            sock.close()


def test_connection_cap_evicts_waiting_connections_so_health_still_answers(
    start_bridge: Any,
) -> None:
    bridge = start_bridge(max_connections=16, header_timeout_s=60.0)
    idle = open_sockets(bridge, 40)
    try:
        assert health_time(bridge) < 2.0
        time.sleep(0.3)
        still_open = [not closed_by_server(sock, 0.05)[0] for sock in idle]
        assert sum(still_open) <= 16, "never more than max_connections open"
        assert still_open[-1], "the newest waiting connection survives; the oldest went first"
        assert not still_open[0]
    finally:
        for sock in idle:
            sock.close()


def test_stalled_upload_body_is_cut_off_and_cleaned_up(start_bridge: Any) -> None:
    bridge = start_bridge(body_timeout_s=1.0)
    sock = socket.create_connection(("127.0.0.1", bridge.port), timeout=10)
    sock.sendall(
        (
            f"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1:{bridge.port}\r\n"
            f"Authorization: Bearer {bridge.token}\r\nContent-Length: 100000\r\n\r\n"
        ).encode()
        + b"\x89PNG" * 10
    )
    try:
        closed, _ = closed_by_server(sock, 5.0)
        assert closed, "a body that stalls for body_timeout_s is cut off"
    finally:
        sock.close()
    deadline = time.monotonic() + 5
    while bridge.manager.pending_bytes or list((bridge.workdir / "uploads").iterdir()):
        assert time.monotonic() < deadline, "the abandoned upload is removed and uncounted"
        time.sleep(0.05)
    assert health_time(bridge) < 2.0
