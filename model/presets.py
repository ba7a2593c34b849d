"""Preset registry: ``create_model(name, **overrides)`` and ``list_presets()``."""

from __future__ import annotations

import dataclasses

from .config import ModelConfig
from .network import LayerIndexNet

_PRESETS: dict[str, ModelConfig] = {
    # Depth Pro as used by the paper (FOV head removed): 1536² input, two ViT-L/16 at 384,
    # decoder 256. state_dict == Apple's depth_pro.pt minus fov.*.
    "depthpro": ModelConfig(preset="depthpro"),
    # The embedded default, trained from scratch on a 2-core CPU. Same design; ViT-Tiny-width
    # (192, 3 heads) and 8 blocks at window 128 / patch 16 (8×8 tokens per window, 35 windows),
    # no LayerScale (from-scratch training), decoder width 64. See model/presets.py docs and
    # benchmarks/bench_model.py for the measurements behind these choices.
    "small": ModelConfig(
        preset="small",
        working_size=512,
        vit_timm_name="vit_tiny_patch16_224",
        vit_img_size=128,
        patch_size=16,
        embed_dim=192,
        depth=8,
        num_heads=3,
        layerscale_init=None,
        hook_blocks=(1, 3),
        encoder_dims=(64, 96, 128, 128),
        decoder_features=64,
        head_features=(32, 16),
    ),
    # For tests: < 1 M parameters, fast on CPU.
    "tiny": ModelConfig(
        preset="tiny",
        working_size=256,
        vit_timm_name="vit_tiny_patch16_224",
        vit_img_size=64,
        patch_size=16,
        embed_dim=48,
        depth=2,
        num_heads=2,
        layerscale_init=None,
        hook_blocks=(0, 1),
        encoder_dims=(16, 24, 32, 32),
        decoder_features=16,
        head_features=(16, 8),
    ),
}


def list_presets() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return list(_PRESETS)


def preset_config(name: str, **overrides: object) -> ModelConfig:
    """The preset's ModelConfig with ``overrides`` applied (validated)."""
    if name not in _PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(_PRESETS)}")
    known = {f.name for f in dataclasses.fields(ModelConfig)} - {"preset"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown override(s) {', '.join(unknown)} for preset {name!r}")
    return dataclasses.replace(_PRESETS[name], **overrides)


def create_model(name: str, **overrides: object) -> LayerIndexNet:
    """Build a randomly initialised network from a preset, e.g. ``create_model('small',
    working_size=256)``. Weights are loaded separately (``from_pretrained``)."""
    return LayerIndexNet(preset_config(name, **overrides))
