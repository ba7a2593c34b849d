"""The embedded default model: it loads with no network, is what we say it is, and beats the
best heuristic on images it never saw in training (tests/data/validation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from decomposer import load_model, predict_index
from model import default_weights_dir
from model.checkpoint import read_config
from training.baselines import area_baseline, luminance_baseline
from training.datasets import read_records
from training.evaluate import evaluate, model_predictor

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation"
MAX_BYTES = 30 * 1024 * 1024


def test_shipped_weights_exist_are_small_and_describe_their_training() -> None:
    folder = default_weights_dir()
    weights = folder / "model.safetensors"
    assert weights.is_file(), f"{weights} missing: the package must ship its default model"
    assert weights.stat().st_size <= MAX_BYTES
    config, metadata = read_config(folder)
    assert config.preset == "small"
    assert config.output_activation in ("sigmoid", "inverse")
    assert "training" in json.dumps(metadata) or "train" in json.dumps(metadata)
    assert metadata["export"]["storage_dtype"] == "fp16"


def test_default_model_loads_and_predicts_at_native_resolution() -> None:
    net = load_model()
    image = np.asarray(np.random.default_rng(1).integers(0, 256, (37, 101, 3)), dtype=np.uint8)
    index = predict_index(image, model=net)
    assert index.shape == (37, 101) and index.dtype == np.float32
    assert np.isfinite(index).all()


@pytest.fixture(scope="module")
def summary() -> dict[str, dict[str, float]]:
    """Mean metrics of the default model and the heuristics on the bundled unseen images."""
    report = evaluate(
        {
            "model": model_predictor(load_model(), device="cpu"),
            "area": area_baseline,
            "luminance": luminance_baseline,
        },
        VALIDATION,
        split="val",
    )
    assert len(report.images) == len(read_records(VALIDATION, "val")) >= 19
    return report.summary


def test_default_model_beats_the_area_baseline_on_order_and_si_mae(summary) -> None:
    s = summary
    assert s["model"]["order_strict"] > s["area"]["order_strict"], s
    assert s["model"]["si_mae"] < s["area"]["si_mae"], s


def test_default_model_orders_better_than_every_heuristic(summary) -> None:
    s = summary
    assert s["model"]["order_strict"] > max(
        s["area"]["order_strict"], s["luminance"]["order_strict"]
    )


@pytest.mark.xfail(
    strict=True,
    reason="issue 5 not met: the CPU-trained model does not yet order a drawing's parts better "
    "than the area heuristic (Order-FG); see training/RUNS.md. Remove this mark when it does.",
)
def test_default_model_beats_the_area_baseline_on_order_fg(summary) -> None:
    assert summary["model"]["order_fg"] > summary["area"]["order_fg"], summary
