"""Connection limits under slow and idle clients: a real `decompose-bridge` process on 127.0.0.1.

Opens, against a fresh bridge (tiny model):
- SLOW "slow-loris" connections that send a request head one byte per second, never finishing;
- IDLE connections that connect and send nothing;
then, for WATCH seconds, times `/v1/health` on a new connection every 0.5 s, and finally counts how
many of the slow and idle connections the server still keeps open. Every loop is bounded; all
traffic stays on loopback. `--server-path DIR` runs the server from another checkout (e.g. main)
for a before/after comparison:

    python benchmarks/bench_bridge_connections.py                       # 100 slow, 2000 idle, 15 s
    python benchmarks/bench_bridge_connections.py --server-path ../main
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bridge import bridge_command, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def start_bridge(folder: Path, server_path: str | None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    checkout = Path(server_path).resolve() if server_path else ROOT
    process = subprocess.Popen(
        bridge_command("random:tiny", port, folder / "token"),
        env={**os.environ, "TMPDIR": str(folder), "PYTHONPATH": str(checkout)},
        cwd=checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit("decompose-bridge did not start")
        try:
            health(port, timeout=2)
            return process, port
        except OSError:
            time.sleep(0.2)


def health(port: int, timeout: float = 10) -> float:
    """Seconds for one GET /v1/health on a new connection."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    start = time.perf_counter()
    with opener.open(f"http://127.0.0.1:{port}/v1/health", timeout=timeout) as response:
        response.read()
    return time.perf_counter() - start


def still_open(sock: socket.socket) -> bool:
    """True if the server has not closed `sock` (non-blocking peek)."""
    sock.setblocking(False)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=100, help="slow-loris connections")
    parser.add_argument("--idle", type=int, default=2000, help="connections that send nothing")
    parser.add_argument("--watch", type=float, default=15.0, help="seconds to watch")
    parser.add_argument("--server-path", default=None, help="run the server from this checkout")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-connections-") as folder:
        process, port = start_bridge(Path(folder), args.server_path)
        slow: list[socket.socket] = []
        idle: list[socket.socket] = []
        stop = threading.Event()
        try:
            baseline = [health(port) for _ in range(5)]
            head = f"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Slow: ".encode()
            for _ in range(args.slow):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                sock.sendall(head)
                slow.append(sock)
            refused = 0
            for _ in range(args.idle):
                try:
                    idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
                except OSError:
                    refused += 1

            def drip() -> None:
                while not stop.wait(1.0):
                    for sock in slow:
                        with contextlib.suppress(OSError):
                            sock.sendall(b"a")

            dripper = threading.Thread(target=drip, daemon=True)
            dripper.start()
            started = time.monotonic()
            during, failures = [], 0
            while time.monotonic() - started < args.watch:
                try:
                    during.append(health(port))
                except OSError:
                    failures += 1
                time.sleep(0.5)
            slow_open = sum(still_open(sock) for sock in slow)
            idle_open = sum(still_open(sock) for sock in idle)
        finally:
            stop.set()
            for sock in slow + idle:
                sock.close()
            process.terminate()
            process.communicate(timeout=60)

    where = args.server_path or "this checkout"
    print(f"decompose-bridge from {where}: {args.slow} slow-loris + {args.idle} idle connections")
    print(f"{'':<34}{'value':>10}")
    print(f"{'health before, median ms':<34}{statistics.median(baseline) * 1000:>10.1f}")
    if during:
        print(f"{'health during, median ms':<34}{statistics.median(during) * 1000:>10.1f}")
        print(f"{'health during, max ms':<34}{max(during) * 1000:>10.1f}")
    print(f"{'health during, failed':<34}{failures:>10d}")
    print(f"{'idle connects refused':<34}{refused:>10d}")
    print(f"{f'slow-loris still open after {args.watch:g} s':<34}{slow_open:>10d}")
    print(f"{f'idle still open after {args.watch:g} s':<34}{idle_open:>10d}")


if __name__ == "__main__":
    main()
