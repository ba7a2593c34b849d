"""Evaluation: baselines on constructed images, the report, and the decompose-eval command."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from model import create_model, save_pretrained
from training.baselines import BASELINES, area_baseline, constant_baseline, luminance_baseline
from training.evaluate import EvaluationError, evaluate, format_table, resolve_model, write_report
from training.evaluate_cli import main as eval_cli
from training.metrics import order_accuracy, order_fg


def _nested_squares() -> tuple[np.ndarray, np.ndarray]:
    """Non-square: a large grey rectangle on white, a smaller dark one on top (labels 0, 1, 2)."""
    image = np.full((30, 50, 3), 255, dtype=np.uint8)
    label = np.zeros((30, 50), dtype=np.uint16)
    image[6:24, 8:42], label[6:24, 8:42] = 160, 1
    image[11:19, 16:30], label[11:19, 16:30] = 40, 2
    return image, label


def test_baselines_on_a_constructed_scene() -> None:
    image, label = _nested_squares()
    area = area_baseline(image)
    assert area.dtype == np.float32 and area.shape == label.shape
    # white background is the largest region (back), then the big rectangle, then the small one
    assert order_accuracy(area, label, strict=True) == 1.0 and order_fg(area, label) == 1.0
    lum = luminance_baseline(image)
    assert order_accuracy(lum, label, strict=True) == 1.0  # darker pieces are in front here
    const = constant_baseline(image)
    assert order_accuracy(const, label) == 1.0 and order_accuracy(const, label, strict=True) == 0.0


def test_evaluate_report_and_json(rectangles_dataset: Callable[..., Path], tmp_path: Path) -> None:
    data = rectangles_dataset(2, 3, size=(40, 72))
    methods = {"perfect": _oracle(data), **BASELINES}
    report = evaluate(methods, data, split="val")
    assert report.methods == ["perfect", "constant", "luminance", "area"]
    assert report.views == ["index"]
    assert len(report.images) == 3 and report.images[0]["width"] == 72
    assert report.overall("perfect")["order_strict"] == 1.0
    assert report.overall("perfect")["si_mae"] == pytest.approx(0.0)
    assert report.overall("constant")["order_strict"] == 0.0
    assert report.summary["synthetic"]["area"] == report.summary["all"]["area"]  # one source
    assert report.stats["all"]["perfect"]["seconds"] >= 0.0
    table = format_table(report)
    assert "Order-FG" in table and "area" in table and "3 images" in table
    out = write_report(report, tmp_path / "eval.json")
    doc = json.loads(out.read_text())
    assert doc["summary"]["all"]["constant"]["index"]["order"] == 1.0
    assert doc["images"][1]["metrics"]["area"].keys() == report.summary["all"]["area"].keys()
    assert doc["images"][1]["source"] == "synthetic"
    label, net = resolve_model("random:tiny")
    assert label == "random:tiny (untrained)" and net.config.preset == "tiny"
    with pytest.raises(EvaluationError, match="random:tiny for an untrained network"):
        resolve_model("tiny")  # a bare preset name is no longer an untrained network


def _oracle(data: Path) -> Callable[[np.ndarray], np.ndarray]:
    """A 'method' that returns the true label of the image it is given (looked up by pixels)."""
    from training.datasets import load_pair, read_records

    pairs = [load_pair(data, r.name) for r in read_records(data, None)]
    return lambda im: next(lab for rgb, lab in pairs if np.array_equal(rgb, im)).astype(np.float32)


def test_decompose_eval_cli(rectangles_dataset: Callable[..., Path], tmp_path: Path) -> None:
    data = rectangles_dataset(2, 3, size=(40, 72))
    model_dir = save_pretrained(create_model("tiny"), tmp_path / "models" / "tiny0")
    out_json = tmp_path / "report.json"
    args = ["--model", str(model_dir), "--data", str(data), "--baseline", "--json", str(out_json),
            "--limit", "2", "--pairs", "5000", "--layers", "4"]  # fmt: skip
    res = CliRunner().invoke(eval_cli, args)
    assert res.exit_code == 0, res.output
    for name in ("constant", "luminance", "area", "net-median", "graph", "ceiling", "strict"):
        assert name in res.output
    for name in ("layers Order-FG", "index SI-MAE", "regions", "s/img"):
        assert name in res.output
    doc = json.loads(out_json.read_text())
    assert doc["num_images"] == 2 and doc["model"] == "models/tiny0"
    assert doc["methods"] == [
        "constant",
        "luminance",
        "area",
        "net",
        "net-median",
        "graph",
        "ceiling",
    ]
    assert doc["views"] == ["index", "layers"]
    scores = doc["images"][0]["metrics"]["graph"]["layers"]
    assert all(v is None or (isinstance(v, float) and math.isfinite(v)) for v in scores.values())
    assert 0.0 <= scores["order"] <= 1.0
    # the ceiling orders these flat rectangles almost perfectly (pieces under the speck size
    # merge into neighbours), on the index map and on the layers
    ceiling = doc["summary"]["all"]["ceiling"]
    assert ceiling["index"]["order_strict"] > 0.95 and ceiling["layers"]["order_fg"] > 0.9
    assert doc["summary"]["all"]["net"]["layers"]["order"] is None  # per-pixel: no layers
    assert doc["stats"]["all"]["graph"]["regions"] >= 2


def test_decompose_eval_bad_model_is_one_line_exit_2(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = rectangles_dataset(1, 1)
    args = ["--model", str(tmp_path / "nope"), "--data", str(data), "--baseline"]
    res = CliRunner().invoke(eval_cli, args)
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and "nope" in res.output
    with pytest.raises(EvaluationError, match="no images"):
        evaluate(BASELINES, data, split="val", limit=0)
