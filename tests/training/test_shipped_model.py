"""The embedded default models: they load with no network, are what we say they are, and the
default pipeline beats the best heuristic on images it never saw in training
(tests/data/validation)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from decomposer import load_model, predict_index
from model import default_weights_dir
from model.checkpoint import read_config
from training.baselines import area_baseline, luminance_baseline
from training.evaluate import evaluate, model_predictor
from training.ordering_eval import eval_options, pipeline_method

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
def summary() -> dict[str, dict[str, dict[str, float]]]:
    """Mean metrics (method -> view -> metric) of the default pipeline (graph ordering), the
    network per pixel and per region, and the heuristics on the 12 bundled unseen images."""
    options = eval_options(16)
    net = model_predictor(load_model(), device="cpu")
    report = evaluate(
        {
            "graph": pipeline_method("graph", options),
            "net": net,
            "net-median": pipeline_method("median", options, lambda sample: net(sample.image)),
            "area": pipeline_method("median", options, lambda sample: area_baseline(sample.image)),
            "luminance": luminance_baseline,
        },
        VALIDATION,
        split="val",
        views=("index", "layers"),
    )
    assert len(report.images) == 12
    return report.summary["all"]


def test_default_model_beats_the_area_baseline_on_order_and_si_mae(summary) -> None:
    s = summary
    assert s["net"]["index"]["order_strict"] > s["area"]["index"]["order_strict"], s
    assert s["net"]["index"]["si_mae"] < s["area"]["index"]["si_mae"], s


def test_default_model_orders_better_than_every_heuristic(summary) -> None:
    s = summary
    assert s["net"]["index"]["order_strict"] > max(
        s["area"]["index"]["order_strict"], s["luminance"]["index"]["order_strict"]
    )


def test_default_pipeline_beats_the_area_rule_on_order_fg_by_a_clear_margin(summary) -> None:
    s = summary
    for view in ("index", "layers"):
        assert s["graph"][view]["order_fg"] > s["area"][view]["order_fg"] + 0.05, (view, s)
        assert s["graph"][view]["order_fg"] > s["net-median"][view]["order_fg"] + 0.05, (view, s)
    assert s["graph"]["layers"]["order_strict"] > s["area"]["layers"]["order_strict"], s
