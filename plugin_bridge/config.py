"""Bridge server configuration: one frozen dataclass plus the platform config-dir lookup.

Stdlib only, so plugins and the client may import it from an editor's bundled Python.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 47863
API_VERSION = 1
API_MIN = 1
API_MAX = 1
APP_DIR_NAME = "illustrators-depth"
TOKEN_FILE_NAME = "bridge-token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DRAIN_BYTES = (
    4 * 1024**3
)  # a refused upload is read and dropped up to this, so the client sees the error
MIN_PENDING_BYTES = 1024**3  # default floor of max_pending_bytes


def user_config_dir() -> Path:
    """Per-user config folder: XDG_CONFIG_HOME on Linux/BSD, Application Support on macOS,
    APPDATA on Windows, each with an `illustrators-depth` subfolder."""
    if sys.platform.startswith("win"):
        base = os.environ.get("APPDATA") or str(Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = str(Path.home() / "Library" / "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP_DIR_NAME


def default_token_file() -> Path:
    """Where the bridge keeps its bearer token unless `--token-file` says otherwise."""
    return user_config_dir() / TOKEN_FILE_NAME


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge server needs to start.

    host/port: listening address (loopback unless allow_remote); port 0 = any free port
        (only for `server.background_server`, which reports the port it got).
    token_file: bearer token file (created 0600 on first start).
    model: a model spec for `decomposer.load_model` (folder, .onnx/.pt file, "default",
        "random:PRESET"); None = the shipped default.
    device: torch device name or None for automatic.
    max_body_bytes: largest accepted request body, bytes.
    max_pixels: largest accepted image, width * height.
    result_ttl_s: seconds a terminal job and its files are kept.
    allowed_origins: exact CORS origins ("scheme://host[:port]"); the server's own origins are implicit.
    allow_remote: bind a non-loopback host and turn the Host check off (token still required).
    max_queued: queued (not running) jobs beyond this are refused with 503.
    max_pending_bytes: upload bytes being received or waiting in the queue, all clients together;
        an upload that would pass it is refused with 503 (None: 4 x max_body_bytes, at least 1 GiB).
    fetched_grace_s: a finished result is deleted this many seconds after its last download, or
        at its TTL, whichever comes first (results live on disk, not in memory).
    heartbeat_s: SSE heartbeat interval, seconds.
    max_layers: upper bound for the `layers` parameter.
    work_root: folder in which the bridge makes its private work folder (None: the system temp
        folder); dead bridges' work folders there are removed at start-up.
    header_timeout_s: a connection must deliver a complete request head within this many seconds
        (from connecting, or from the end of its previous response); slow clients are cut off.
    body_timeout_s: a request body that stalls (no byte received) this long is cut off.
    keep_alive_s: idle keep-alive connections are closed after this many seconds.
    max_connections: open connections at most; beyond it, the connection that has waited longest
        without sending a complete request is closed first (so /v1/health still answers).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token_file: Path = field(default_factory=default_token_file)
    model: str | None = None
    device: str | None = None
    max_body_bytes: int = 256 * 1024 * 1024
    max_pixels: int = 100_000_000
    result_ttl_s: float = 3600.0
    allowed_origins: tuple[str, ...] = ()
    allow_remote: bool = False
    max_queued: int = 64
    max_pending_bytes: int | None = None
    fetched_grace_s: float = 600.0
    heartbeat_s: float = 10.0
    max_layers: int = 64
    work_root: Path | None = None
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: float = 5.0
    max_connections: int = 256

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is not in 1-65535")
        if self.max_body_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_body_bytes and max_pixels must be positive")
        if self.max_pending_bytes is None:
            object.__setattr__(
                self, "max_pending_bytes", max(4 * self.max_body_bytes, MIN_PENDING_BYTES)
            )
        elif self.max_pending_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_pending_bytes ({self.max_pending_bytes}) must be at least max_body_bytes "
                f"({self.max_body_bytes})"
            )
        if self.result_ttl_s <= 0 or self.heartbeat_s <= 0 or self.fetched_grace_s <= 0:
            raise ValueError("result_ttl_s, fetched_grace_s and heartbeat_s must be positive")
        if min(self.header_timeout_s, self.body_timeout_s, self.keep_alive_s) <= 0:
            raise ValueError("header_timeout_s, body_timeout_s and keep_alive_s must be positive")
        if self.max_queued < 1 or self.max_layers < 1 or self.max_connections < 8:
            raise ValueError("max_queued and max_layers must be at least 1, max_connections 8")
        for origin in self.allowed_origins:
            check_origin(origin)
        if not self.allow_remote and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"host {self.host!r} is not loopback; binding it needs allow_remote (--allow-remote)"
            )

    @property
    def own_origins(self) -> tuple[str, ...]:
        """Origins of pages the bridge serves itself (same-origin, always allowed)."""
        return tuple(f"http://{'[::1]' if h == '::1' else h}:{self.port}" for h in LOOPBACK_HOSTS)


def check_origin(origin: str) -> str:
    """Validate one allow-list entry: exact `scheme://host[:port]`, no wildcard, no path."""
    if "*" in origin:
        raise ValueError(f"CORS origin {origin!r}: wildcards are not allowed, list exact origins")
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
        raise ValueError(
            f"CORS origin {origin!r} must look like https://host or http://host:port (no path)"
        )
    return origin
