"""fit-orderer on a tiny dataset, the exact metrics, and the pipeline orderings as eval methods."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from decomposer.orderer import Orderer
from decomposer.pipeline import decompose_pixels
from decomposer.types import Decomposition, Layer
from training.cli import main as train_cli
from training.evaluate import evaluate, layer_index_map
from training.metrics import all_metrics
from training.orderer_fit import exact_metrics, layer_values, region_table, unary_targets
from training.ordering_eval import eval_options, ordering_methods


def test_exact_metrics_agree_with_the_sampled_ones() -> None:
    rng = np.random.default_rng(3)
    regions = rng.integers(0, 6, (40, 50))
    label = (regions + rng.integers(0, 2, (40, 50))) % 5  # regions are not pure
    values = rng.normal(size=6)
    exact = exact_metrics(region_table(regions, label, 6), values)
    sampled = all_metrics(values[regions], label, num_pairs=400_000)
    for name in ("order", "order_strict", "order_fg"):
        assert exact[name] == pytest.approx(sampled[name], abs=0.01), name
    assert exact["si_mae"] == pytest.approx(sampled["si_mae"], rel=1e-9)


def test_layer_values_and_unary_targets() -> None:
    scores = np.array([0.0, 0.1, 5.0, 5.2, 9.0])
    areas = np.array([10, 10, 10, 30, 10])
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]], np.uint8)
    values = layer_values(scores, areas, colours, layers=3, tau=0.0)
    assert values.tolist() == [0.05, 0.05, 5.2, 5.2, 9.0]
    assert unary_targets(np.array([3.0, 1.0, 3.0, 7.0])).tolist() == [0.5, 0.0, 0.5, 1.0]
    assert unary_targets(np.array([2.0, 2.0])).tolist() == [0.5, 0.5]


def test_fit_orderer_writes_a_loadable_deterministic_model(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = rectangles_dataset(10, 4, size=(48, 64))
    out, cache = tmp_path / "orderer", tmp_path / "cache"
    args = ["fit-orderer", "--data", str(data), "--out", str(out), "--cache", str(cache),
            "--workers", "1", "--layers", "4"]  # fmt: skip
    res = CliRunner().invoke(train_cli, args)
    assert res.exit_code == 0, res.output
    assert "graph" in res.output and "ceiling" in res.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["uses_net"] is False and meta["training"]["samples"]["synthetic"] == {
        "train": 10,
        "val": 4,
    }
    # pieces under the 64 px speck size merge into neighbours: the ceiling is near, not at, 1
    assert meta["validation"]["ceiling"]["all"]["layers"]["order_fg"] > 0.95
    assert set(meta["solver"]) == {"clip", "lam", "scale", "weight", "context"}
    orderer = Orderer.load(out)
    assert any(cache.rglob("*.npz"))
    # the model orders a scene of its kind
    rgb = np.full((48, 64, 3), 255, np.uint8)
    rgb[5:40, 5:50] = (90, 90, 200)
    rgb[15:30, 20:35] = (200, 50, 50)
    rgba = np.dstack([rgb, np.full((48, 64), 255, np.uint8)])
    dec = decompose_pixels(rgba, None, layers=3, orderer=orderer)
    assert np.isfinite(dec.index_map).all() and len(dec.layers) == 3
    # same data, same seed: the same model (the cache is reused)
    again = tmp_path / "again"
    res = CliRunner().invoke(train_cli, [*args[:4], str(again), *args[5:]])
    assert res.exit_code == 0, res.output
    assert (again / "pair.txt").read_text() == (out / "pair.txt").read_text()
    # an existing folder is not replaced without --overwrite
    res = CliRunner().invoke(train_cli, args)
    assert res.exit_code == 2 and "--overwrite" in res.output


def test_fit_orderer_bad_data_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "rgb").mkdir()
    (tmp_path / "label").mkdir()
    res = CliRunner().invoke(
        train_cli, ["fit-orderer", "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "manifest.csv" in res.output
    assert not (tmp_path / "o").exists()


def test_layer_index_map_takes_the_top_most_layer_that_shows_a_pixel() -> None:
    full = np.zeros((4, 6, 4), np.uint8)
    full[..., 3] = 255
    top = np.zeros((2, 2, 4), np.uint8)
    top[0, 0, 3] = 255  # only one pixel shown
    layers = [
        Layer("back", full, (0, 0), index=1.0),
        Layer("front", top, (3, 1), index=7.0),
    ]
    dec = Decomposition(layers, np.zeros((4, 6), np.float32), (6, 4), full)
    out = layer_index_map(dec)
    assert out.shape == (4, 6) and out[1, 3] == 7.0 and (out == 1.0).sum() == 23


def _with_source(data: Path, source: str) -> Path:
    path = data / "manifest.csv"
    rows = list(csv.DictReader(path.open()))
    for row in rows:
        row["source"] = source
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return data


def test_ordering_methods_per_source_with_the_ceiling(tmp_path: Path) -> None:
    from tests.training.conftest import stacked_rectangles, write_dataset

    a = write_dataset(tmp_path / "a", [stacked_rectangles(40, 60, s) for s in range(3)], 1)
    b = write_dataset(tmp_path / "b", [stacked_rectangles(50, 50, s) for s in range(10, 13)], 1)
    _with_source(b, "other")
    methods = ordering_methods(options=eval_options(4), baselines=True)
    assert list(methods) == ["constant", "luminance", "area", "graph", "ceiling"]
    report = evaluate(methods, [a, b], split="val", views=("index", "layers"), num_pairs=5000)
    assert list(report.summary) == ["all", "mean of sources", "other", "synthetic"]
    assert len(report.images) == 4
    ceiling = report.summary["all"]["ceiling"]
    assert ceiling["index"]["order_strict"] > 0.95 and ceiling["layers"]["order_strict"] > 0.95
    for name in ("constant", "luminance", "area", "graph"):
        assert ceiling["layers"]["order_fg"] >= report.summary["all"][name]["layers"]["order_fg"]
    assert report.summary["all"]["constant"]["layers"]["order_strict"] == 0.0
    assert report.stats["other"]["graph"]["regions"] >= 2
    mean = report.summary["mean of sources"]["graph"]["index"]["order"]
    per = [report.summary[s]["graph"]["index"]["order"] for s in ("other", "synthetic")]
    assert mean == pytest.approx(np.mean(per))


def test_fit_orderer_with_the_network_feature(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    from decomposer.ordering import ORDERINGS
    from model import create_model, save_pretrained

    data = rectangles_dataset(6, 3, size=(40, 48))
    net_dir = save_pretrained(create_model("tiny"), tmp_path / "tiny")
    out = tmp_path / "orderer-net"
    args = ["fit-orderer", "--data", str(data), "--out", str(out), "--workers", "1",
            "--net", str(net_dir), "--layers", "3"]  # fmt: skip
    res = CliRunner().invoke(train_cli, args)
    assert res.exit_code == 0, res.output
    meta = json.loads((out / "meta.json").read_text())
    assert meta["uses_net"] is True and meta["net"]["spec"] == str(net_dir)
    assert "a_net_rank" in meta["pair_features"] and "net_z" in meta["unary_features"]
    orderer = Orderer.load(out)
    assert ORDERINGS["graph"].needs_index(orderer)  # the pipeline then runs the network
    rgb = np.full((40, 48, 3), 255, np.uint8)
    rgb[5:30, 5:40] = (90, 90, 200)
    rgba = np.dstack([rgb, np.full((40, 48), 255, np.uint8)])
    from decomposer.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="index map"):
        decompose_pixels(rgba, None, layers=2, orderer=orderer)
    dec = decompose_pixels(rgba, np.zeros((40, 48), np.float32), layers=2, orderer=orderer)
    assert len(dec.layers) == 2
