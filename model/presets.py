"""Preset registry: ``create_model(name, **overrides)`` and ``list_presets()``.

Why ``small`` looks as it does (measured on the 2-core AMD EPYC, fp32, idle machine):

- It must be trained from scratch on this CPU in about an hour, so training cost rules. At
  512² the forward takes ~0.27 s (encoder 0.13, decoder 0.12, head 0.02); with
  ``working_size=256`` ~0.056 s, and forward+backward of a batch of 4 at 256² ~0.7 s
  (~0.17 s per image), i.e. ~20 k image-steps per hour.
- ViT: width 192 / 3 heads (ViT-Tiny) and 8 blocks, patch 16 at window S/4 = 128 px, so a
  window is 8×8 tokens and the 35 windows are only 2,275 tokens. Patch 8 would quadruple the
  tokens (≥ 4× the ViT cost); ViT-S width 384 would give 2×22 M parameters.
- Hooks at blocks 1 and 3 (a quarter and half way, like Depth Pro's 5 and 11 of 24).
- No LayerScale: Depth Pro's 1e-5 init makes every block start as identity, which slows
  training from scratch; the weights are not loaded from anywhere else.
- Decoder width 64 (Depth Pro 256) and head 32→16: the decoder runs at S/2, where its 3×3
  convs cost as much as the whole ViT even at width 64.
- Weights do not depend on ``working_size`` (the ViT position embedding is stored for 128-px
  windows and resampled), so a model trained at 256 runs at 512 with
  ``from_pretrained(path, working_size=512)``.

Result: 9.06 M parameters (limit 30 M), ~0.27 s at 512² (limit 0.5 s).

``lite0`` swaps the ViT encoder for a CNN, EfficientNet-Lite0 (timm ``efficientnet_lite0``,
features at strides 2 … 32, ReLU6, no squeeze-excitation), so it can start from ImageNet weights
a registry package ships (``training.pretrained``); the fusion decoder and head stay. Measured
(FLOPs of one 256² forward): ``small`` 9.2 GFLOP, of which the ViT encoder is only 0.45 and the
width-64 decoder + head at S/2 and S the rest; ``lite0`` with decoder width 32 is 3.9 GFLOP
(encoder 1.0). Width 48 would be 6.2, 64 would be 9.5. 3.3 M parameters. Its working size is any
multiple of 32 (default 256, as it is trained).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .config import ModelConfig

if TYPE_CHECKING:  # the registry itself needs no torch; only building a network does
    from .network import LayerIndexNet

_PRESETS: dict[str, ModelConfig] = {
    # Depth Pro as used by the paper (FOV head removed): 1536² input, two ViT-L/16 at 384,
    # decoder 256. state_dict == Apple's depth_pro.pt minus fov.*.
    "depthpro": ModelConfig(preset="depthpro"),
    # The embedded default: the same design scaled down (see the module docstring).
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
    # EfficientNet-Lite0 encoder (pretrainable from a registry package), slim decoder.
    "lite0": ModelConfig(
        preset="lite0",
        working_size=256,
        encoder="cnn",
        cnn_timm_name="efficientnet_lite0",
        encoder_dims=(24, 40, 112, 320),
        decoder_features=32,
        head_features=(32, 16),
    ),
    # For tests: 0.29 M parameters, ~7 ms forward at 256² on CPU.
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
    working_size=256)``. Weights are loaded separately (``from_pretrained``). Needs torch."""
    config = preset_config(name, **overrides)
    from .network import LayerIndexNet

    return LayerIndexNet(config)
