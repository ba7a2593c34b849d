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
    model: preset name ("tiny", "small", ...) or checkpoint folder; None = the shipped default.
    device: torch device name or None for automatic.
    max_body_bytes: largest accepted request body, bytes.
    max_pixels: largest accepted image, width * height.
    result_ttl_s: seconds a terminal job and its files are kept.
    allowed_origins: exact CORS origins ("scheme://host[:port]"); the server's own origins are implicit.
    allow_remote: bind a non-loopback host and turn the Host check off (token still required).
    max_queued: queued (not running) jobs beyond this are refused with 503.
    max_results: ended jobs kept at most (memory guard); the oldest are forgotten first.
    heartbeat_s: SSE heartbeat interval, seconds.
    max_layers: upper bound for the `layers` parameter.
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
    max_results: int = 32
    heartbeat_s: float = 10.0
    max_layers: int = 64

    def __post_init__(self) -> None:
        if not 0 <= self.port < 65536:
            raise ValueError(f"port {self.port} is not in 1-65535")
        if self.max_body_bytes <= 0 or self.max_pixels <= 0:
            raise ValueError("max_body_bytes and max_pixels must be positive")
        if self.result_ttl_s <= 0 or self.heartbeat_s <= 0:
            raise ValueError("result_ttl_s and heartbeat_s must be positive")
        if self.max_queued < 1 or self.max_layers < 1 or self.max_results < 1:
            raise ValueError("max_queued, max_results and max_layers must be at least 1")
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
