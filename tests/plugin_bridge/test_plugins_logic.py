"""Editor-independent plug-in logic against a REAL bridge on 127.0.0.1.

- Krita and GIMP share `plugin_bridge/plugins/common/layers_from_result.py` (stdlib only, loaded
  here by path exactly as the editors load it: no package, no editor API).
- The Photoshop UXP module `bridge_logic.js` runs under `node --test` against the same bridge.
- The bundler's Krita/GIMP archives carry the client and the logic module they import.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from plugin_bridge.client import BridgeClient, BridgeError
from plugin_bridge.plugins import bundle

PLUGINS = Path(__file__).resolve().parents[2] / "plugin_bridge" / "plugins"
LOGIC = PLUGINS / "common" / "layers_from_result.py"
UXP_TEST = PLUGINS / "photoshop-uxp" / "test" / "bridge_logic.test.js"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def load_logic(path: Path = LOGIC, name: str = "layers_from_result_under_test") -> ModuleType:
    """Import a plug-in module from its file, as Krita/GIMP would (no plugin_bridge package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


def rgba_of(png: bytes) -> np.ndarray:
    """uint8 (H, W, 4) pixels of PNG bytes."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))


def recomposite(stack, width: int, height: int) -> np.ndarray:
    """Blend a LayerStack bottom -> top (straight-alpha over) into uint8 RGBA."""
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for layer in stack.layers:
        canvas.alpha_composite(
            Image.open(io.BytesIO(layer.png)).convert("RGBA"), (layer.x, layer.y)
        )
    return np.asarray(canvas)


def test_logic_module_is_stdlib_only_and_editor_free() -> None:
    tree = ast.parse(LOGIC.read_text())
    imported = {
        (alias.name if isinstance(node, ast.Import) else node.module).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    }
    assert imported <= STDLIB, f"non-stdlib imports: {sorted(imported - STDLIB)}"


def test_decompose_document_returns_ordered_layers_that_recomposite(
    bridge, illustration_png
) -> None:
    logic = load_logic()
    png = illustration_png(64, 48, seed=3)
    events = []
    stack = logic.decompose_document(
        BridgeClient(bridge.url, token=bridge.token), png, layers=4, on_event=events.append
    )
    assert (stack.canvas_width, stack.canvas_height) == (64, 48)
    assert 1 <= len(stack.layers) <= 4
    assert [layer.position for layer in stack.layers] == list(range(len(stack.layers)))
    assert stack.top_down()[0] is stack.layers[-1]
    assert stack.group_name == f"Illustrator's Depth ({len(stack.layers)} layers)"
    assert events and events[-1].type == "finished"
    for layer in stack.layers:
        assert rgba_of(layer.png).shape == (layer.height, layer.width, 4)
        assert (
            layer.x >= 0
            and layer.x + layer.width <= 64
            and layer.y >= 0
            and layer.y + layer.height <= 48
        )
    assert np.array_equal(recomposite(stack, 64, 48), rgba_of(png))


def test_stack_from_result_follows_manifest_order(bridge, bridge_client, illustration_png) -> None:
    logic = load_logic()
    job = bridge_client.submit(illustration_png(48, 40, seed=5), layers=3)
    bridge_client.wait(job.id)
    manifest = bridge_client.result(job.id)
    reordered = {**manifest, "layers": list(reversed(manifest["layers"]))}
    stack = logic.stack_from_result(bridge_client, job.id, reordered)
    assert [layer.name for layer in stack.layers] == [layer["name"] for layer in manifest["layers"]]


def test_encode_png_krita_bgra_uploads_exactly(bridge, illustration_png) -> None:
    """Krita hands BGRA bytes; the PNG we build from them must decompose back to the same pixels."""
    logic = load_logic()
    rgba = rgba_of(illustration_png(40, 30, seed=7))
    bgra = rgba[..., [2, 1, 0, 3]].tobytes()
    png = logic.encode_png(40, 30, bgra, "BGRA")
    assert np.array_equal(rgba_of(png), rgba)
    assert logic.png_size(png) == (40, 30)
    stack = logic.decompose_document(BridgeClient(bridge.url, token=bridge.token), png, layers=2)
    assert np.array_equal(recomposite(stack, 40, 30), rgba)


def test_errors_reach_the_plugin_with_a_message(bridge) -> None:
    logic = load_logic()
    with pytest.raises(BridgeError) as wrong_token:
        logic.decompose_document(BridgeClient(bridge.url, token="0" * 64), b"\x89PNG", layers=2)
    assert wrong_token.value.status == 401
    with pytest.raises(BridgeError) as corrupt:
        logic.decompose_document(
            BridgeClient(bridge.url, token=bridge.token), b"not an image", layers=2
        )
    assert corrupt.value.status == 400 and corrupt.value.code == "bad_image"
    with pytest.raises(ValueError, match="expected 16 bytes"):
        logic.encode_png(2, 2, b"\x00" * 15)


def test_manifest_checks() -> None:
    logic = load_logic()
    manifest = {
        "canvas": {"width": 10, "height": 8},
        "layers": [
            {"i": 1, "name": "front", "offset": [2, 2], "size": [3, 3]},
            {"i": 0, "name": "back", "offset": [0, 0], "size": [10, 8]},
        ],
    }
    assert [place[1] for place in logic.layer_places(manifest)] == ["back", "front"]
    manifest["layers"][0]["offset"] = [8, 2]
    with pytest.raises(logic.ResultError, match="outside the 10x8 canvas"):
        logic.layer_places(manifest)
    with pytest.raises(logic.ResultError, match="not a v1 manifest"):
        logic.layer_places({"layers": []})
    with pytest.raises(logic.ResultError, match="not a PNG"):
        logic.png_size(b"GIF89a" + b"\x00" * 30)


@pytest.mark.parametrize("editor", bundle.EDITORS)
def test_bundles_carry_client_and_logic(
    editor: str, tmp_path: Path, bridge, illustration_png
) -> None:
    archive = bundle.write_bundle(editor, tmp_path)
    folder = "illustrators_depth" if editor == "krita" else "illustrators-depth"
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        zipped.extractall(tmp_path / "x")
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
    assert {f"{folder}/bridge_client.py", f"{folder}/layers_from_result.py"} <= names
    if editor == "krita":
        assert "illustrators_depth.desktop" in names and "illustrators_depth/__init__.py" in names
        desktop = (tmp_path / "x" / "illustrators_depth.desktop").read_text()
        assert (
            "X-KDE-Library=illustrators_depth" in desktop
            and "ServiceTypes=Krita/PythonPlugin" in desktop
        )
    else:
        assert modes["illustrators-depth/illustrators-depth.py"] & 0o111, (
            "GIMP needs the executable bit"
        )
    for name in names:
        if name.endswith(".py"):
            compile((tmp_path / "x" / name).read_text(), name, "exec")
    # The bundled copies work on their own: vendored client + logic, against the real bridge.
    unpacked = tmp_path / "x" / folder
    client_mod = load_logic(unpacked / "bridge_client.py", f"bridge_client_{editor}")
    logic = load_logic(unpacked / "layers_from_result.py", f"layers_from_result_{editor}")
    png = illustration_png(32, 24, seed=11)
    stack = logic.decompose_document(
        client_mod.BridgeClient(bridge.url, token=bridge.token), png, layers=2
    )
    assert np.array_equal(recomposite(stack, 32, 24), rgba_of(png))


def test_uxp_logic_under_node_test_runner(bridge) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the UXP module is tested with `node --test` (Node 18+)")
    env = {**os.environ, "BRIDGE_URL": bridge.url, "BRIDGE_TOKEN": bridge.token, "NO_COLOR": "1"}
    run = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(UXP_TEST)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout and "# skipped 0" in run.stdout
    passed = int(run.stdout.split("# pass ")[1].split()[0])
    assert passed >= 7, run.stdout[-2000:]
