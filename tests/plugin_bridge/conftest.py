"""Fixtures that run a REAL bridge server (uvicorn, in a thread) on a free 127.0.0.1 port.

- `bridge`: one shared server for the session (tiny model, temp token file, default limits).
- `start_bridge(**config_overrides)`: start an extra server with other settings (e.g. small
  limits, allowed origins); stopped at the end of the test. Work folders go to a `work/` folder
  next to the server's token file (not the system temp folder).
- `bridge_client`: an authenticated `plugin_bridge.client.BridgeClient` for `bridge`.
- `illustration_png(width, height, seed)`: bytes of a small generated flat illustration.

Every server shares one loaded tiny model (`bridge_runner`), so starting one costs ~0.1 s.
"""

from __future__ import annotations

import contextlib
import io
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from plugin_bridge.auth import load_or_create_token
from plugin_bridge.client import BridgeClient
from plugin_bridge.config import BridgeConfig
from plugin_bridge.runner import DecomposeRunner
from plugin_bridge.server import STATIC_DIR, RunningBridge, background_server

BRIDGE_MODEL = "random:tiny"


def make_illustration(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """PNG bytes of a flat illustration: plain background, a few overlapping filled shapes."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(150, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1 = int(rng.integers(x0 + 4, width))
        y1 = int(rng.integers(y0 + 4, height))
        colour = tuple(int(v) for v in rng.integers(0, 150, 3))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
        else:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bridge_command(
    port: int, token_file: Path, *extra: str, model: str = BRIDGE_MODEL
) -> list[str]:
    """argv of a real `decompose-bridge` subprocess on 127.0.0.1:port (CPU, the tiny model)."""
    return [
        sys.executable, "-m", "plugin_bridge.cli", "--model", model, "--device", "cpu",
        "--port", str(port), "--token-file", str(token_file), *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def illustration_png() -> Callable[..., bytes]:
    """Factory: illustration_png(width=64, height=48, seed=0) -> PNG bytes."""
    return make_illustration


@pytest.fixture(scope="session")
def bridge_runner() -> DecomposeRunner:
    """The tiny model, loaded once and shared by every test server."""
    runner = DecomposeRunner(BRIDGE_MODEL, "cpu")
    runner.load()
    return runner


def _config(token_file: Path, **overrides: Any) -> BridgeConfig:
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "token_file": token_file,
        "model": BRIDGE_MODEL,
        "device": "cpu",
        "heartbeat_s": 1.0,
        "work_root": token_file.parent / "work",
    }
    options.update(overrides)
    return BridgeConfig(**options)


@pytest.fixture(scope="session")
def bridge(
    bridge_runner: DecomposeRunner, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningBridge]:
    """A real bridge for the whole session: `.url`, `.port`, `.token`, `.config`, `.client()`."""
    config = _config(tmp_path_factory.mktemp("bridge") / "token")
    token = load_or_create_token(config.token_file)
    with background_server(config, token=token, runner=bridge_runner) as running:
        yield running


@pytest.fixture
def bridge_client(bridge: RunningBridge) -> BridgeClient:
    """Authenticated client for the shared bridge."""
    return bridge.client(timeout_s=60.0)


@pytest.fixture
def start_bridge(
    bridge_runner: DecomposeRunner, tmp_path: Path
) -> Iterator[Callable[..., RunningBridge]]:
    """Factory: start_bridge(static_dir=..., **BridgeConfig overrides) -> RunningBridge.

    Each server is stopped after the test. `static_dir` (default: plugin_bridge/static) is the
    folder served at `/`.
    """
    with contextlib.ExitStack() as stack:
        counter = iter(range(1_000_000))

        def start(static_dir: Path | None = STATIC_DIR, **overrides: Any) -> RunningBridge:
            overrides.setdefault("token_file", tmp_path / f"token-{next(counter)}")
            config = _config(**overrides)
            token = load_or_create_token(config.token_file)
            return stack.enter_context(
                background_server(config, token=token, runner=bridge_runner, static_dir=static_dir)
            )

        yield start
