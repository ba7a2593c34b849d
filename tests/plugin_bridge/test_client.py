"""The stdlib Python client against a real bridge on 127.0.0.1."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from psd_tools import PSDImage

import plugin_bridge.client as client_module
from plugin_bridge.client import (
    BridgeClient,
    BridgeConnectionError,
    BridgeError,
    BridgeEvent,
    read_token,
)
from plugin_bridge.server import RunningBridge
from tests.plugin_bridge.conftest import free_port


def test_client_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(client_module.__file__).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
    assert modules and modules <= set(sys.stdlib_module_names) | {"__future__"}


def test_unreachable_bridge_raises_connection_error_with_hint() -> None:
    client = BridgeClient(f"http://127.0.0.1:{free_port()}", token="x" * 64, timeout_s=5)
    with pytest.raises(BridgeConnectionError) as error:
        client.health()
    assert error.value.code == "not_running"
    assert "decompose-bridge" in error.value.hint


def test_wrong_token_raises_bridge_error_with_code(bridge: RunningBridge) -> None:
    client = BridgeClient(bridge.url, token="0" * 64)
    with pytest.raises(BridgeError) as error:
        client.status("anything")
    assert (error.value.status, error.value.code) == (401, "auth")
    assert error.value.hint and "--print-token" in error.value.hint


def test_read_token_reads_the_server_token_file(bridge: RunningBridge) -> None:
    assert read_token(bridge.config.token_file) == bridge.token


def test_submit_path_poll_and_download_psd_and_ora(
    bridge: RunningBridge, illustration_png: Any, tmp_path: Path
) -> None:
    client = bridge.client()
    source = tmp_path / "art.png"
    source.write_bytes(illustration_png(56, 40, seed=201))
    job = client.submit(source, layers=3, complete="none")
    status = client.wait(job.id, use_events=False, poll_interval_s=0.05, timeout_s=120)
    assert status["state"] == "finished"
    assert status["params"] == {"layers": 3, "complete": "none"}

    out = tmp_path / "out"
    psd_path = client.download(job.id, out / "art.psd")
    ora_path = client.download(job.id, out / "art.ora")
    assert sorted(p.name for p in out.iterdir()) == ["art.ora", "art.psd"], "no temp files left"
    psd = PSDImage.open(psd_path)
    assert psd.size == (56, 40)
    assert len([layer for layer in psd.descendants() if layer.kind == "pixel"]) >= 1
    assert ora_path.read_bytes()[:2] == b"PK"
    with pytest.raises(ValueError, match=r"\.ora or \.psd"):
        client.download(job.id, out / "art.tiff")


def test_wait_reports_every_event_in_order(
    bridge_client: BridgeClient, illustration_png: Any
) -> None:
    seen: list[BridgeEvent] = []
    job = bridge_client.submit(illustration_png(40, 40, seed=202), layers=2)
    final = bridge_client.wait(job.id, on_event=seen.append, timeout_s=120)
    assert final["state"] == "finished"
    kinds = [event.type for event in seen if event.type != "heartbeat"]
    assert kinds[0] == "queued" and kinds[-1] == "finished"
    assert [event.seq for event in seen if event.seq] == list(range(1, len(kinds) + 1))
    stages = [event.data["stage"] for event in seen if event.type == "stage"]
    assert stages[:2] == ["load", "predict"]


def test_wait_times_out_on_a_job_that_is_still_queued(
    bridge_client: BridgeClient, illustration_png: Any
) -> None:
    ids = [bridge_client.submit(illustration_png(300, 200, seed=210 + i)).id for i in range(3)]
    with pytest.raises(TimeoutError, match=ids[-1]):
        bridge_client.wait(ids[-1], timeout_s=0, use_events=False)
    for job_id in ids:
        bridge_client.cancel(job_id)
    assert bridge_client.wait(ids[-1], timeout_s=120)["state"] == "cancelled"


def test_client_ignores_http_proxy_settings(
    bridge: RunningBridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    assert bridge.client().health()["ready"] is True


def test_layer_pngs_match_the_manifest(bridge_client: BridgeClient, illustration_png: Any) -> None:
    import io

    from PIL import Image

    job = bridge_client.submit(illustration_png(48, 48, seed=203), layers=3)
    bridge_client.wait(job.id, timeout_s=120)
    manifest = bridge_client.result(job.id)
    for entry in manifest["layers"]:
        image = Image.open(io.BytesIO(bridge_client.layer_png(job.id, entry["i"])))
        assert image.mode == "RGBA" and list(image.size) == entry["size"]
        assert np.asarray(image)[..., 3].max() > 0, "every layer has visible pixels"


@pytest.mark.parametrize("size", [256 * 1024, 8 * 1024 * 1024])
def test_oversized_upload_reports_413_not_a_connection_reset(start_bridge: Any, size: int) -> None:
    bridge = start_bridge(max_body_bytes=64 * 1024)
    with pytest.raises(BridgeError) as error:
        bridge.client().submit(b"\x89PNG" + bytes(size))
    assert (error.value.status, error.value.code) == (413, "too_large")
    assert error.value.body["limit"] == {"bytes": 64 * 1024}
    assert bridge.client().health()["ready"] is True


def test_big_upload_with_wrong_token_reports_401_not_a_connection_reset(
    bridge: RunningBridge,
) -> None:
    with pytest.raises(BridgeError) as error:
        BridgeClient(bridge.url, token="0" * 64).submit(bytes(8 * 1024 * 1024))
    assert (error.value.status, error.value.code) == (401, "auth")


def test_big_upload_with_bad_parameter_reports_400(bridge: RunningBridge) -> None:
    with pytest.raises(BridgeError) as error:
        bridge.client().submit(bytes(8 * 1024 * 1024), layers=0)
    assert (error.value.status, error.value.code) == (400, "bad_parameter")
