"""Token file, Host check, origins and config validation (pure functions, no server)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from plugin_bridge.auth import (
    TokenFileError,
    bearer_token,
    host_allowed,
    load_or_create_token,
    tokens_match,
)
from plugin_bridge.config import DEFAULT_PORT, BridgeConfig, check_origin, default_token_file

posix_only = pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")


@posix_only
def test_token_is_created_private_256_bit_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "config" / "illustrators-depth" / "bridge-token"
    token = load_or_create_token(path)
    assert len(token) == 64 and int(token, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token
    assert load_or_create_token(tmp_path / "other") != token
    assert [p.name for p in path.parent.iterdir()] == ["bridge-token"], "no temp files left"


@posix_only
def test_token_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    load_or_create_token(path)
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match="chmod 600"):
        load_or_create_token(path)


def test_short_token_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("short\n")
    path.chmod(0o600)
    with pytest.raises(TokenFileError, match="at least 32"):
        load_or_create_token(path)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG is Linux/BSD")
def test_default_token_file_follows_xdg_config_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_token_file() == tmp_path / "illustrators-depth" / "bridge-token"
    assert BridgeConfig().token_file == default_token_file()


def test_tokens_compare_exactly() -> None:
    assert tokens_match("a" * 64, "a" * 64)
    assert not tokens_match("a" * 64, "a" * 63 + "b")
    assert not tokens_match("a" * 64, "a" * 63)
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        (f"127.0.0.1:{DEFAULT_PORT}", True),
        (f"localhost:{DEFAULT_PORT}", True),
        (f"[::1]:{DEFAULT_PORT}", True),
        ("127.0.0.1", False),
        (f"127.0.0.1:{DEFAULT_PORT + 1}", False),
        (f"attacker.example:{DEFAULT_PORT}", False),
        (f"localhost.attacker.example:{DEFAULT_PORT}", False),
        (f"[::1]x:{DEFAULT_PORT}", False),
        (f"[::1:{DEFAULT_PORT}", False),
        ("", False),
        (None, False),
    ],
)
def test_host_allowed_only_for_loopback_on_our_port(host: str | None, ok: bool) -> None:
    assert host_allowed(host, DEFAULT_PORT) is ok


def test_host_without_port_is_allowed_only_on_port_80() -> None:
    assert host_allowed("localhost", 80)
    assert not host_allowed("localhost", 8080)


@pytest.mark.parametrize(
    "origin", ["*", "https://*.photopea.com", "www.photopea.com", "https://x.com/path", "ftp://x"]
)
def test_bad_cors_origins_are_rejected(origin: str) -> None:
    with pytest.raises(ValueError, match="origin"):
        check_origin(origin)
    with pytest.raises(ValueError):
        BridgeConfig(allowed_origins=(origin,))


def test_non_loopback_host_needs_allow_remote() -> None:
    with pytest.raises(ValueError, match="allow-remote"):
        BridgeConfig(host="0.0.0.0")
    assert BridgeConfig(host="0.0.0.0", allow_remote=True).allow_remote


def test_own_origins_cover_every_loopback_name() -> None:
    assert BridgeConfig(port=5000).own_origins == (
        "http://127.0.0.1:5000",
        "http://localhost:5000",
        "http://[::1]:5000",
    )
