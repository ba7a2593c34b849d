"""Finished results on a real bridge: all kept until their TTL (more jobs than the old 32-result
cap), stored on disk rather than in memory, dropped a grace period after their last download."""

from __future__ import annotations

import io
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image

from plugin_bridge.client import BridgeError

JOBS = 48  # the old bridge kept 32 ended jobs and answered 404 for the 16 oldest


def test_more_finished_results_than_the_old_cap_are_all_kept(
    start_bridge: Any, illustration_png: Any
) -> None:
    bridge = start_bridge()
    client = bridge.client()
    images = [illustration_png(24, 16, seed=300 + i) for i in range(JOBS)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda png: client.submit(png, layers=2).id, images))
    for job_id in ids:
        assert client.wait(job_id, timeout_s=300)["state"] == "finished"
    for job_id in ids:  # every result, oldest first
        manifest = client.result(job_id)
        layers = [
            np.asarray(Image.open(io.BytesIO(client.layer_png(job_id, e["i"]))))
            for e in manifest["layers"]
        ]
        assert len(layers) == manifest["layer_count"] >= 1
    assert client.psd(ids[0])[:4] == b"8BPS", "documents are rebuilt from the stored result"


def test_results_are_kept_on_disk_not_in_memory(start_bridge: Any, illustration_png: Any) -> None:
    bridge = start_bridge()
    client = bridge.client()
    job = client.submit(illustration_png(64, 48, seed=330), layers=3)
    assert client.wait(job.id, timeout_s=120)["state"] == "finished"
    folder = bridge.workdir / job.id
    layer_files = sorted(p.name for p in (folder / "layers").iterdir())
    assert layer_files == ["0.png", "1.png", "2.png"]
    assert (folder / "index_map.png").is_file() and (folder / "index_map.npy").is_file()
    assert (folder / "source").is_file()
    assert list((bridge.workdir / "uploads").iterdir()) == [], "the upload moved to the result"

    held = bridge.manager._jobs[job.id]

    def arrays_in(value: Any, depth: int = 0) -> int:
        if isinstance(value, np.ndarray):
            return 1
        if depth > 4:
            return 0
        if isinstance(value, dict):
            return sum(arrays_in(v, depth + 1) for v in value.values())
        if isinstance(value, list | tuple):
            return sum(arrays_in(v, depth + 1) for v in value)
        if hasattr(value, "__dataclass_fields__"):
            return sum(arrays_in(getattr(value, f), depth + 1) for f in value.__dataclass_fields__)
        return 0

    assert arrays_in(held) == 0, "a finished job holds no pixel arrays in memory"
    # what is served is exactly what is stored
    assert client.layer_png(job.id, 1) == (folder / "layers" / "1.png").read_bytes()


def test_fetched_result_is_deleted_a_grace_period_after_its_last_download(
    start_bridge: Any, illustration_png: Any
) -> None:
    bridge = start_bridge(fetched_grace_s=1.0, result_ttl_s=3600)
    client = bridge.client()
    fetched = client.submit(illustration_png(32, 32, seed=340), layers=2).id
    untouched = client.submit(illustration_png(32, 32, seed=341), layers=2).id
    for job_id in (fetched, untouched):
        assert client.wait(job_id, timeout_s=120)["state"] == "finished"
    before = client.status(fetched)["expires_at"]
    client.result(fetched)
    after = client.status(fetched)["expires_at"]
    assert after < before and after == pytest.approx(time.time() + 1.0, abs=0.5)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.status(fetched)
        except BridgeError as error:
            assert (error.status, error.code) == (404, "unknown_job")
            assert "last download" in error.hint
            break
        assert time.monotonic() < deadline, "the downloaded result was never deleted"
        time.sleep(0.1)
    assert not (bridge.workdir / fetched).exists()
    assert client.result(untouched)["layer_count"] >= 1, "not downloaded: kept until its TTL"


def test_documents_rebuilt_from_disk_ignore_pillows_own_pixel_limit(
    start_bridge: Any, illustration_png: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored layers are read back under the bridge's own limit, not Pillow's global one (here
    set far below the image, as a user's setting might be)."""
    bridge = start_bridge()
    client = bridge.client()
    job = client.submit(illustration_png(120, 90, seed=350), layers=3)
    assert client.wait(job.id, timeout_s=120)["state"] == "finished"
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above 200 pixels
    assert client.psd(job.id)[:4] == b"8BPS"
    assert client.ora(job.id)[:2] == b"PK"
