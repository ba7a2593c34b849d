"""The embedded default model: it loads with no network, is what we say it is, and beats the
best heuristic on images it never saw in training (tests/data/validation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from decomposer import load_model, predict_index
from model import default_weights_dir
from model.checkpoint import read_config
from training.baselines import area_baseline, luminance_baseline
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


def test_default_model_beats_the_heuristics_on_unseen_emoji() -> None:
    net = load_model()
    report = evaluate(
        {
            "model": model_predictor(net, device="cpu"),
            "area": area_baseline,
            "luminance": luminance_baseline,
        },
        VALIDATION,
        split="val",
    )
    assert len(report.images) == 12
    s = report.summary
    best_fg = max(s["area"]["order_fg"], s["luminance"]["order_fg"])
    best_strict = max(s["area"]["order_strict"], s["luminance"]["order_strict"])
    best_mae = min(s["area"]["si_mae"], s["luminance"]["si_mae"])
    assert s["model"]["order_fg"] > best_fg, s
    assert s["model"]["order_strict"] > best_strict, s
    assert s["model"]["si_mae"] < best_mae, s
