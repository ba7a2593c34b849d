"""A bridge that restarts or drops connections: `unknown_job` says why the job is gone, and
`client.wait` rides out an outage as its docstring promises (through a real loopback TCP proxy)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugin_bridge.auth import load_or_create_token
from plugin_bridge.client import BridgeClient, BridgeError
from plugin_bridge.config import BridgeConfig
from plugin_bridge.server import background_server


def test_unknown_job_after_a_restart_says_the_bridge_restarted(
    bridge_runner: Any, illustration_png: Any, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token = load_or_create_token(token_file)

    def config(port: int) -> BridgeConfig:
        return BridgeConfig(
            port=port, token_file=token_file, model="random:tiny", device="cpu", work_root=tmp_path
        )

    with background_server(config(0), token=token, runner=bridge_runner) as first:
        client = first.client()
        old_id = client.submit(illustration_png(32, 32, seed=600), layers=2).id
        assert client.wait(old_id, timeout_s=120)["state"] == "finished"
        port = first.port
    with background_server(config(port), token=token, runner=bridge_runner) as second:
        client = second.client()
        with pytest.raises(BridgeError) as error:
            client.status(old_id)
        assert (error.value.status, error.value.code) == (404, "unknown_job")
        assert "restarted" in error.value.hint and "submit the image again" in error.value.hint
        assert "--result-ttl" not in error.value.hint
        assert client.health()["started_at"] > 0

        own_expired = second.manager.instance + "0" * 24  # this run's id space, not a job now
        with pytest.raises(BridgeError) as error:
            client.result(own_expired)
        assert "expired" in error.value.hint and "--result-ttl" in error.value.hint
        with pytest.raises(BridgeError) as error:
            client.status("not-a-job")
        assert "32 hex characters" in error.value.hint


class FlakyProxy:
    """A TCP proxy on 127.0.0.1 in front of the bridge that can be switched off: then it drops
    every open connection and closes new ones at once, as a restarting network path would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = threading.Event()
        self.up.set()
        self.closed = threading.Event()
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.dropped = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self.up.is_set():
                self.dropped += 1
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self.lock:
                self.sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def outage(self, seconds: float) -> None:
        """Drop everything now and refuse for `seconds`, in the background."""
        self.up.clear()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self.sockets.clear()
        timer = threading.Timer(seconds, self.up.set)
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        self.thread.join(timeout=5)
        self.outage(0)


@pytest.fixture
def proxy(start_bridge: Any) -> Iterator[tuple[Any, FlakyProxy]]:
    bridge = start_bridge(allow_remote=True)  # the Host header names the proxy's port
    flaky = FlakyProxy(bridge.port)
    try:
        yield bridge, flaky
    finally:
        flaky.close()


@pytest.mark.parametrize("use_events", [True, False])
def test_wait_retries_through_a_dropped_connection(
    proxy: tuple[Any, FlakyProxy], illustration_png: Any, use_events: bool
) -> None:
    bridge, flaky = proxy
    direct = bridge.client()
    # keep the worker busy so the followed job is still waiting when the outage starts
    busy = [direct.submit(illustration_png(600, 450, seed=610 + k)).id for k in range(3)]
    client = BridgeClient(f"http://127.0.0.1:{flaky.port}", token=bridge.token, timeout_s=10)
    job = client.submit(illustration_png(48, 32, seed=620), layers=2)
    outcome: dict[str, Any] = {}
    seen: list[int] = []

    def follow() -> None:
        try:
            outcome["status"] = client.wait(
                job.id,
                timeout_s=120,
                use_events=use_events,
                poll_interval_s=0.1,
                on_event=lambda event: seen.append(event.seq),
            )
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    follower = threading.Thread(target=follow)
    follower.start()
    deadline = time.monotonic() + 60
    while not seen and use_events:  # the stream is open and has delivered its first event
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert direct.status(job.id)["state"] == "queued", "still waiting when the outage starts"
    flaky.outage(1.5)
    follower.join(timeout=150)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["status"]["state"] == "finished"
    assert flaky.dropped > 0, "the client did hit the outage"
    numbered = [seq for seq in seen if seq]
    assert numbered == sorted(set(numbered)), "every event once, in order, across the reconnect"
    for job_id in busy:
        direct.cancel(job_id)
        direct.wait(job_id, timeout_s=120)


def test_wait_without_timeout_gives_up_on_a_bridge_that_stays_away(start_bridge: Any) -> None:
    bridge = start_bridge(allow_remote=True)  # the Host header names the proxy's port
    flaky = FlakyProxy(bridge.port)
    try:
        client = BridgeClient(f"http://127.0.0.1:{flaky.port}", token=bridge.token, timeout_s=5)
        flaky.outage(3600)
        started = time.monotonic()
        with pytest.raises(BridgeError) as error:
            client.wait("0" * 32, unreachable_s=1.0, poll_interval_s=0.1)
        assert error.value.code == "not_running" and time.monotonic() - started < 30
    finally:
        flaky.close()
