"""The layer-index network: presets, checkpoints, model resolution and inference.

Imports nothing else of ours, and no torch at import time: ``load``, ``fingerprint``,
``predict_index_map`` and the ONNX runtime work in the light install. The torch names
(``LayerIndexNet``, ``from_pretrained``, ``save_pretrained``, ``load_depth_pro``) are imported
on first use and need the ``[torch]`` extra; so does ``create_model`` when called.
"""

from __future__ import annotations

from typing import Any

from .config import ModelConfig
from .errors import (
    CheckpointError,
    MissingDependencyError,
    ModelError,
    RandomWeightsWarning,
    UnknownModelError,
)
from .loading import ModelSource, default_weights_dir, fingerprint, load, resolve, torch_available
from .onnx_runtime import OnnxLayerIndexModel
from .presets import create_model, list_presets
from .runtime import device_of, predict_index_map, runtime_of

_TORCH_NAMES = {
    "LayerIndexNet": ("network", "LayerIndexNet"),
    "from_pretrained": ("checkpoint", "from_pretrained"),
    "save_pretrained": ("checkpoint", "save_pretrained"),
    "load_depth_pro": ("checkpoint", "load_depth_pro"),
}


def __getattr__(name: str) -> Any:
    """Import the torch-backed names lazily (PEP 562), so ``import model`` stays light."""
    if name in _TORCH_NAMES:
        from importlib import import_module

        module, attr = _TORCH_NAMES[name]
        return getattr(import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "LayerIndexNet",
    "MissingDependencyError",
    "ModelConfig",
    "ModelError",
    "ModelSource",
    "OnnxLayerIndexModel",
    "RandomWeightsWarning",
    "UnknownModelError",
    "create_model",
    "default_weights_dir",
    "device_of",
    "fingerprint",
    "from_pretrained",
    "list_presets",
    "load",
    "load_depth_pro",
    "predict_index_map",
    "resolve",
    "runtime_of",
    "save_pretrained",
    "torch_available",
]
