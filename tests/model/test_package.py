"""Public surface of the model package and its dependency boundary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import model


def test_public_names() -> None:
    for name in (
        "create_model",
        "list_presets",
        "save_pretrained",
        "from_pretrained",
        "load_depth_pro",
        "default_weights_dir",
        "LayerIndexNet",
        "ModelConfig",
        "CheckpointError",
        "load",
        "fingerprint",
        "resolve",
        "predict_index_map",
        "OnnxLayerIndexModel",
        "ModelError",
        "UnknownModelError",
        "MissingDependencyError",
        "RandomWeightsWarning",
    ):
        assert hasattr(model, name), name
    assert issubclass(model.CheckpointError, model.ModelError)
    assert issubclass(model.ModelError, ValueError)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        model.nope  # noqa: B018


def test_default_weights_dir_is_inside_the_package() -> None:
    path = model.default_weights_dir()
    assert isinstance(path, Path)
    assert path == Path(model.__file__).resolve().parent / "weights" / "default"


def test_model_imports_nothing_else_of_ours() -> None:
    code = (
        "import sys, model, model.inference, model.checkpoint; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'decomposer', 'training', 'plugin_bridge'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
