"""`decompose-bridge`: options, refusals, and one real server process on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin_bridge.cli import main
from plugin_bridge.client import BridgeClient
from tests.plugin_bridge.conftest import bridge_command, free_port


def test_print_token_creates_a_private_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    result = CliRunner().invoke(main, ["--print-token", "--token-file", str(path)])
    assert result.exit_code == 0
    token = result.output.strip()
    assert len(token) == 64 and path.read_text().strip() == token
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = CliRunner().invoke(main, ["--print-token", "--token-file", str(path)])
    assert again.output.strip() == token


def test_public_host_without_allow_remote_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--host", "0.0.0.0", "--token-file", str(tmp_path / "t")])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output
    assert not (tmp_path / "t").exists()


def test_wildcard_origin_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--allow-origin", "*", "--token-file", str(tmp_path / "t")])
    assert result.exit_code == 2 and "wildcard" in result.output


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_unsafe_token_file_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("a" * 64)
    path.chmod(0o644)
    result = CliRunner().invoke(main, ["--print-token", "--token-file", str(path)])
    assert result.exit_code == 2
    assert "chmod 600" in result.output and "Traceback" not in result.output


def test_busy_port_is_reported_without_traceback(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(
            main,
            ["--port", str(port), "--token-file", str(tmp_path / "t"), "--model", "random:tiny"],
        )
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in result.output and "--port" in result.output


def test_help_lists_every_option_with_examples() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--host", "--allow-remote", "--port", "--token-file", "--model", "--device",
        "--max-body-mb", "--max-pixels", "--max-pending-mb", "--result-ttl", "--allow-origin",
        "--print-token",
    ):  # fmt: skip
        assert option in result.output
    assert "Examples" in result.output


def test_real_server_process_serves_and_stops_on_interrupt(tmp_path: Path) -> None:
    """127.0.0.2 is loopback on Linux but not one of the bridge's loopback names, so it exercises
    --allow-remote and its warning without listening on a real network interface."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.2", 0))
        except OSError:
            pytest.skip("127.0.0.2 is not configured on this machine")
    port = free_port()
    token_file = tmp_path / "token"
    process = subprocess.Popen(
        bridge_command(
            port, token_file, "--max-pixels", "5000", "--host", "127.0.0.2", "--allow-remote"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.2:{port}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 90
        health = None
        while health is None:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "server did not come up"
            try:
                with opener.open(f"{url}/v1/health", timeout=2) as response:
                    health = json.loads(response.read())
            except OSError:
                time.sleep(0.2)
        assert health["model"] == "random:tiny" and health["limits"]["max_pixels"] == 5000
        client = BridgeClient(url, token=token_file.read_text().strip())
        assert client.health()["ready"] is True
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode in (0, 130)
    assert "WARNING" in stderr and "127.0.0.2" in stderr
    assert f"listening on http://127.0.0.2:{port}" in stderr
    token = token_file.read_text().strip()
    assert (
        f"Open the web page (the link carries the token: keep it to yourself): http://127.0.0.2:{port}/#token={token}"
        in stderr
    )


def test_unknown_model_is_reported_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "--model",
            "no-such-model",
            "--port",
            str(free_port()),
            "--token-file",
            str(tmp_path / "t"),
        ],
    )
    assert result.exit_code == 2
    assert "no-such-model" in result.output and "random:PRESET" in result.output
    assert "Traceback" not in result.output


def test_unavailable_device_is_reported_in_one_line(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = CliRunner().invoke(
        main,
        [
            "--model",
            "random:tiny",
            "--device",
            "cuda",
            "--port",
            str(free_port()),
            "--token-file",
            str(tmp_path / "t"),
        ],  # fmt: skip
    )
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output and "Traceback" not in result.output


def test_page_link_puts_the_token_in_the_fragment(tmp_path: Path) -> None:
    from plugin_bridge.cli import page_url
    from plugin_bridge.config import BridgeConfig

    local = BridgeConfig(port=47863, token_file=tmp_path / "t")
    assert page_url(local, "ab+c/d") == "http://127.0.0.1:47863/#token=ab%2Bc%2Fd"
    everywhere = BridgeConfig(host="0.0.0.0", allow_remote=True, token_file=tmp_path / "t")
    assert page_url(everywhere, "f00").startswith("http://127.0.0.1:47863/#token=")
    ipv6 = BridgeConfig(host="::1", port=5000, token_file=tmp_path / "t")
    assert page_url(ipv6, "f00") == "http://[::1]:5000/#token=f00"
