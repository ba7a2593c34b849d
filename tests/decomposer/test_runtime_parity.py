"""Same layers from both runtimes: the shipped model on torch and on onnxruntime gives the same
number of layers with identical pixels on every bundled validation image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import model
from decomposer import decompose, load_model, predict_index

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation" / "rgb"
IMAGES = sorted(VALIDATION.glob("*.png"))


@pytest.fixture(scope="module")
def index_maps() -> dict[str, dict[str, np.ndarray]]:
    """image name -> runtime -> float32 (H, W) index map of the shipped model."""
    nets = {"torch": load_model(runtime="torch"), "onnx": load_model(runtime="onnx")}
    assert {model.runtime_of(net) for net in nets.values()} == {"torch", "onnx"}
    return {
        path.name: {name: predict_index(path, model=net) for name, net in nets.items()}
        for path in IMAGES
    }


@pytest.mark.parametrize("layers", [6, "auto"])
def test_both_runtimes_write_the_same_layers(index_maps, layers) -> None:
    assert len(IMAGES) >= 19  # every bundled validation image
    differing = []
    for path in IMAGES:
        maps = index_maps[path.name]
        assert np.abs(maps["torch"] - maps["onnx"]).max() < 1e-3, path.name
        results = {
            name: decompose(path, layers=layers, index_map=m, ordering="median")
            for name, m in maps.items()
        }
        a, b = results["torch"], results["onnx"]
        same = len(a.layers) == len(b.layers) and all(
            x.offset == y.offset and np.array_equal(x.rgba, y.rgba)
            for x, y in zip(a.layers, b.layers, strict=True)
        )
        if not same:
            differing.append(path.name)
    assert not differing, f"layers differ between torch and onnxruntime on {differing}"
