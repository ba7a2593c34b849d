"""The layered SVG writer: layer groups, traced curves, renderings by resvg, Inkscape, Chromium."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from lxml import etree
from PIL import Image
from skimage.metrics import structural_similarity

from decomposer import decompose, save
from decomposer.cli import main
from decomposer.svg_render import render_svg
from decomposer.types import Decomposition, Layer
from decomposer.verify import verify_output
from decomposer.writers.svg import (
    INKSCAPE_NS,
    SVG_NS,
    read_svg_text,
    rendered_similarity,
    svg_layer_labels,
    write_svg,
)

ROOT = Path(__file__).resolve().parents[2]
HOUSE = ROOT / "examples" / "house.png"
NAMES = ["Layer 1 (back)", "Layer 2", "Layer 3", "Layer 4", "Layer 5", "Layer 6 (front)"]


def _ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(structural_similarity(a[..., :3], b[..., :3], channel_axis=2, data_range=255))


@pytest.fixture(scope="module")
def house_svg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`decompose examples/house.png -o art.svg --layers 6` (the untrained `tiny` preset)."""
    out = tmp_path_factory.mktemp("svg") / "art.svg"
    result = CliRunner().invoke(
        main, [str(HOUSE), "-o", str(out), "--layers", "6", "--model", "random:tiny", "--verify"]
    )
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    return out


def test_cli_writes_six_inkscape_layers_back_to_front_with_curves(house_svg: Path) -> None:
    root = etree.parse(str(house_svg)).getroot()
    assert root.get("viewBox") == "0 0 640 480" and (root.get("width"), root.get("height")) == (
        "640",
        "480",
    )
    groups = [g for g in root.iter(f"{{{SVG_NS}}}g") if g.get(f"{{{INKSCAPE_NS}}}groupmode")]
    assert len(groups) == 6 and [g.getparent() for g in groups] == [root] * 6
    assert [g.get(f"{{{INKSCAPE_NS}}}label") for g in groups] == NAMES
    assert svg_layer_labels(read_svg_text(house_svg)) == NAMES
    paths = [p for g in groups for p in g.iter(f"{{{SVG_NS}}}path")]
    assert len(paths) >= 6
    for path in paths:
        assert re.fullmatch(r"#[0-9a-f]{6}", path.get("fill"))
        assert "C" in path.get("d"), "traced as curves, not pixel staircases"
    image = root.find(f"{{{SVG_NS}}}image")
    assert image is not None and "display:none" in image.get("style")


def test_resvg_rendering_matches_the_input(house_svg: Path) -> None:
    source = np.asarray(Image.open(HOUSE).convert("RGBA"))
    rendered = render_svg(read_svg_text(house_svg), 640, 480, crisp=False)
    assert _ssim(rendered, source) >= 0.99
    assert verify_output(house_svg, source).ok


@pytest.mark.skipif(shutil.which("inkscape") is None, reason="Debian inkscape not installed")
def test_inkscape_reads_the_layers_and_renders_the_drawing(house_svg: Path, tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(tmp_path)}
    query = subprocess.run(
        ["inkscape", "--query-all", str(house_svg)],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip
    ids = [line.split(",")[0] for line in query.stdout.splitlines()]
    assert [i for i in ids if i.startswith("layer")] == [f"layer{k}" for k in range(1, 7)]
    png = tmp_path / "inkscape.png"
    subprocess.run(
        ["inkscape", str(house_svg), "--export-type=png", f"--export-filename={png}",
         "--export-width=640", "--export-background=white", "--export-background-opacity=1"],
        capture_output=True, text=True, timeout=120, env=env, check=True,
    )  # fmt: skip
    source = np.asarray(Image.open(HOUSE).convert("RGBA"))
    assert _ssim(np.asarray(Image.open(png).convert("RGBA")), source) >= 0.98


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_chromium_renders_the_svg(house_svg: Path, tmp_path: Path) -> None:
    shot = tmp_path / "chromium.png"
    subprocess.run(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=640,480",
         "--force-device-scale-factor=1", f"--screenshot={shot}", house_svg.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    source = np.asarray(Image.open(HOUSE).convert("RGBA"))
    shown = np.asarray(Image.open(shot).convert("RGBA"))
    assert shown.shape == source.shape and _ssim(shown, source) >= 0.98


def _flat_art() -> np.ndarray:
    """Anti-aliased flat art (4x supersampled): a disc over a bar over a blue ground."""
    big = np.zeros((480, 640, 3), np.uint8)
    big[:] = (40, 90, 200)
    big[180:340, 60:580] = (250, 200, 40)
    yy, xx = np.mgrid[0:480, 0:640]
    big[np.hypot(yy - 220, xx - 320) < 140] = (220, 40, 60)
    return np.asarray(Image.fromarray(big).resize((160, 120), Image.Resampling.BOX))


def test_svgz_extras_and_layer_count(tmp_path: Path) -> None:
    art = _flat_art()
    index = np.zeros(art.shape[:2], np.float32)
    index[(art[..., 0] > 200) & (art[..., 2] < 100)] = 1.0
    dec = decompose(art, layers=3, index_map=index)
    packed = write_svg(dec, tmp_path / "art.svgz", extras=False)
    assert packed.read_bytes()[:2] == b"\x1f\x8b"
    text = gzip.decompress(packed.read_bytes()).decode("utf-8")
    assert read_svg_text(packed) == text and "<image" not in text
    assert len(svg_layer_labels(text)) == len(dec.layers)
    assert rendered_similarity(text, dec.source_rgba) >= 0.97
    assert verify_output(packed, dec.source_rgba).ok


def test_a_decomposition_without_regions_is_segmented_per_layer(tmp_path: Path) -> None:
    art = np.dstack([_flat_art(), np.full((120, 160), 255, np.uint8)])
    front = np.zeros((40, 40, 4), np.uint8)
    front[...] = (10, 200, 90, 255)
    layers = [Layer("back", art, (0, 0)), Layer("front", front, (60, 40))]
    source = art.copy()
    source[40:80, 60:100] = (10, 200, 90, 255)
    dec = Decomposition(layers, np.zeros((120, 160), np.float32), (160, 120), source)
    path = save(dec, tmp_path / "hand.svg")
    text = read_svg_text(path)
    assert svg_layer_labels(text) == ["back", "front"]
    assert text.count("<path") >= 4  # blue, yellow, red in the back; green in front
    assert rendered_similarity(text, source) >= 0.95


def test_read_back_check_reports_a_different_input_and_a_broken_file(house_svg: Path) -> None:
    source = np.asarray(Image.open(HOUSE).convert("RGBA"))
    other = source.copy()
    other[:, :320] = 0
    result = verify_output(house_svg, other)
    assert not result.ok and "SSIM" in result.message and "art.svg" in result.message
    broken = house_svg.with_name("broken.svg")
    broken.write_text("<svg><g>")
    result = verify_output(broken, source)
    assert not result.ok and "cannot read back" in result.message
