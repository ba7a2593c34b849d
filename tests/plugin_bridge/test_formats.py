"""The bridge and the format registry: every file format is served, listed and downloadable;
SVG uploads (good, broken, with text) are decomposed or refused like any image."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from decomposer.svg_render import dejavu_fonts
from decomposer.writers import file_formats
from decomposer.writers.svg import read_svg_text, rendered_similarity, svg_layer_labels
from plugin_bridge.client import BridgeClient, BridgeError

ROOT = Path(__file__).resolve().parents[2]
TEXT_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="200" height="80">
  <rect width="200" height="80" fill="#fdf6e3"/>
  <rect x="10" y="10" width="70" height="60" fill="#268bd2"/>
  <text x="95" y="58" font-family="sans-serif" font-size="40" fill="#dc322f">Hi</text>
</svg>"""


def _finished(client: BridgeClient, body: bytes, layers: int = 3) -> str:
    job = client.submit(body, layers=layers)
    status = client.wait(job.id, timeout_s=180)
    assert status["state"] == "finished", status
    return job.id


def test_health_links_and_manifest_list_every_file_format(
    bridge_client: BridgeClient, illustration_png: Any
) -> None:
    names = [fmt.name for fmt in file_formats()]
    assert {"psd", "ora", "svg"} <= set(names)
    listed = bridge_client.health()["formats"]
    assert [entry["format"] for entry in listed] == names
    job_id = _finished(bridge_client, illustration_png(48, 36, seed=7))
    status = bridge_client.status(job_id)
    manifest = bridge_client.result(job_id)
    documents = {doc["format"]: doc for doc in manifest["documents"]}
    assert list(documents) == names
    for fmt in file_formats():
        url = f"/v1/jobs/{job_id}/result{fmt.suffix}"
        assert status["links"][fmt.name] == url == manifest[fmt.name] == documents[fmt.name]["url"]
        assert documents[fmt.name]["media_type"] == fmt.media_type
        assert bridge_client.document(job_id, fmt.name)  # served, non-empty


def test_svg_result_is_a_layered_svg_like_the_upload(
    bridge_client: BridgeClient, illustration_png: Any, tmp_path: Path
) -> None:
    png = illustration_png(96, 72, seed=9)
    job_id = _finished(bridge_client, png, layers=3)
    path = bridge_client.download(job_id, tmp_path / "art.svg")
    text = read_svg_text(path)
    names = [layer["name"] for layer in bridge_client.result(job_id)["layers"]]
    assert svg_layer_labels(text) == names
    source = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    assert rendered_similarity(text, source) > 0.9
    assert bridge_client.svg(job_id) == path.read_bytes()


def test_svg_uploads_good_text_and_broken(bridge_client: BridgeClient) -> None:
    job_id = _finished(bridge_client, (ROOT / "examples" / "house.svg").read_bytes())
    manifest = bridge_client.result(job_id)
    assert manifest["canvas"] == {"width": 1024, "height": 768}  # rendered at --svg-size 1024
    if dejavu_fonts():
        job_id = _finished(bridge_client, TEXT_SVG)
        assert bridge_client.result(job_id)["canvas"] == {"width": 1024, "height": 410}
    with pytest.raises(BridgeError) as info:
        bridge_client.submit(b'<svg xmlns="http://www.w3.org/2000/svg" width="9"><rect', layers=2)
    assert info.value.status == 400 and info.value.code == "bad_image"
    assert "not a valid SVG" in info.value.message and "\n" not in info.value.message


def test_client_refuses_a_suffix_no_format_has(bridge_client: BridgeClient, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="choose a file name ending in"):
        bridge_client.download("0" * 32, tmp_path / "art.tiff")
    assert json.dumps(bridge_client.formats())  # plain JSON for plugins
