"""The layer-index network: presets, checkpoints and inference (imports nothing else of ours)."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import from_pretrained, load_depth_pro, save_pretrained
from .config import ModelConfig
from .errors import CheckpointError
from .network import LayerIndexNet
from .presets import create_model, list_presets


def default_weights_dir() -> Path:
    """Folder of the shipped default (``small``) model: ``model/weights/default/``.

    It holds ``model.safetensors`` + ``config.json`` once training has produced them.
    """
    return Path(__file__).resolve().parent / "weights" / "default"


__all__ = [
    "CheckpointError",
    "LayerIndexNet",
    "ModelConfig",
    "create_model",
    "default_weights_dir",
    "from_pretrained",
    "list_presets",
    "load_depth_pro",
    "save_pretrained",
]
