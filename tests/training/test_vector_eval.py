"""The vectorisation track (training.vector_eval, decompose-eval --vector): our layered SVG and
VTracer's stacked SVG scored in one run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from training.evaluate_cli import main
from training.vector_eval import METRICS, paint_order_map, svg_scores, vtracer_svg

from .conftest import write_dataset

TWO_LAYERS = """<svg xmlns="http://www.w3.org/2000/svg"
  xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" width="40" height="20">
  <g inkscape:groupmode="layer" inkscape:label="back">
    <path fill="#123456" d="M0 0 H40 V20 H0 Z"/><path fill="#654321" d="M30 0 H40 V5 H30 Z"/>
  </g>
  <g inkscape:groupmode="layer" inkscape:label="front">
    <path fill="#abcdef" fill-opacity="0.5" d="M10 5 H20 V15 H10 Z"/>
  </g>
</svg>"""


def test_paint_order_is_per_layer_for_ours_and_per_path_for_vtracer() -> None:
    by_layer = paint_order_map(TWO_LAYERS, 40, 20, by_layer=True)
    assert by_layer[0, 0] == 1 and by_layer[2, 35] == 1 and by_layer[10, 15] == 2
    by_path = paint_order_map(TWO_LAYERS, 40, 20, by_layer=False)
    assert by_path[0, 0] == 1 and by_path[2, 35] == 2 and by_path[10, 15] == 3
    assert set(np.unique(by_layer)) == {1, 2}


def test_scores_of_a_perfect_and_of_a_reversed_svg() -> None:
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:] = (0x12, 0x34, 0x56)
    rgb[0:5, 30:40] = (0x65, 0x43, 0x21)
    rgb[5:15, 10:20] = (0xAB, 0xCD, 0xEF)
    label = np.ones((20, 40), np.int64)
    label[0:5, 30:40] = 2
    label[5:15, 10:20] = 3
    opaque = TWO_LAYERS.replace(' fill-opacity="0.5"', "")
    good = svg_scores(opaque, rgb, label, by_layer=False, num_pairs=5000)
    assert good["order"] == 1.0 and good["ssim"] > 0.99 and good["rgb_mse"] < 1e-4
    assert good["layer_error"] == 0.0 and good["paths"] == 3.0
    flipped = svg_scores(opaque, rgb, label.max() + 1 - label, by_layer=False, num_pairs=5000)
    assert flipped["order"] < 0.1
    merged = svg_scores(opaque, rgb, label, by_layer=True, num_pairs=5000)
    assert merged["layer_error"] == 1 / 3  # two layers for three pieces


def test_vtracer_baseline_is_a_stacked_svg_of_the_image() -> None:
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:] = 255
    rgb[8:24, 8:24] = (200, 30, 30)
    svg = vtracer_svg(rgb)
    assert svg.count("<path") >= 2
    order = paint_order_map(svg, 32, 32, by_layer=False)
    assert order[16, 16] > order[1, 1] > 0  # the square is painted over the background


def test_cli_vector_table_for_ours_and_vtracer(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(2):
        rgb = np.full((48, 64, 3), 250, np.uint8)
        label = np.zeros((48, 64), np.uint16)
        for rank in (1, 2, 3):
            y, x = rng.integers(0, 30), rng.integers(0, 40)
            rgb[y : y + 18, x : x + 24] = rng.integers(0, 200, 3)
            label[y : y + 18, x : x + 24] = rank
        samples.append((rgb, label))
    root = write_dataset(tmp_path / "rects", samples, n_train=0)
    out = tmp_path / "trackb.json"
    args = ["--data", str(root), "--vector", "--no-depth", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "VTracer stacked" in result.output and "Order-FG" in result.output
    document = json.loads(out.read_text())["vector"]
    assert document["num_images"] == 2 and set(document["summary"]) == {"ours", "vtracer"}
    for method in ("ours", "vtracer"):
        assert set(document["summary"][method]) == set(METRICS)
        assert document["summary"][method]["ssim"] > 0.9
