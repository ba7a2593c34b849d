"""Architecture configuration of the layer-index network (one frozen dataclass)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

OUTPUT_ACTIVATIONS = ("sigmoid", "inverse")
ENCODERS = ("vit", "cnn")


@dataclass(frozen=True)
class ModelConfig:
    """Every architecture field of a :class:`~model.network.LayerIndexNet`.

    The geometry is derived from ``working_size`` S (px, square input): the patch encoder sees
    windows of ``S // 4`` px on a three-level pyramid (S, S/2, S/4); level 0 is split into 5×5
    windows at 25 % overlap, level 1 into 3×3 at 50 %, level 2 is one window. ``vit_img_size`` is
    only the window size the ViT position embedding is stored for; other window sizes resample it
    at run time, so weights do not depend on ``working_size``.

    ``encoder`` "cnn" replaces that encoder by a timm CNN backbone (``cnn_timm_name``, features at
    strides 2 … 32; :mod:`model.cnn_encoder`); the ViT fields are then unused and ``working_size``
    need only be a multiple of 32.
    """

    preset: str = "custom"
    working_size: int = 1536  # px, square network input S
    encoder: str = "vit"  # "vit": Depth Pro's multi-resolution ViT; "cnn": a timm CNN backbone
    cnn_timm_name: str = "efficientnet_lite0"  # timm name of the CNN backbone (encoder "cnn")
    cnn_bn_eps: float = 1e-3  # BatchNorm epsilon of the CNN backbone
    vit_timm_name: str = "vit_large_patch14_dinov2"
    vit_img_size: int = 384  # px, window size the ViT position embedding is built for
    patch_size: int = 16  # px, ViT patch (8, 16 or 32)
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    layerscale_init: float | None = 1e-5  # None: no LayerScale
    hook_blocks: tuple[int, int] = (5, 11)  # 0-based ViT blocks whose raw outputs are tapped
    encoder_dims: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    decoder_features: int = 256
    head_features: tuple[int, int] = (128, 32)
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # on RGB in [0, 1]
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    output_activation: str = "sigmoid"  # "sigmoid" -> [0, 1]; "inverse" -> -1/clamp(relu(x))

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        p = self.patch_size
        if p not in (8, 16, 32):
            raise ValueError(f"patch_size must be 8, 16 or 32, got {p}")
        if self.encoder == "cnn":
            if self.working_size <= 0 or self.working_size % 32:
                raise ValueError(
                    f"working_size must be a positive multiple of 32 for a CNN encoder; "
                    f"got {self.working_size}"
                )
        else:
            unit = 16 * p
            if self.working_size <= 0 or self.working_size % unit:
                raise ValueError(
                    f"working_size must be a positive multiple of {unit} (16 × patch_size {p}) so "
                    f"windows align with patches; got {self.working_size}"
                )
        if self.vit_img_size % p:
            raise ValueError(f"vit_img_size {self.vit_img_size} must be a multiple of {p}")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} not divisible by {self.num_heads} heads")
        if not all(0 <= b < self.depth for b in self.hook_blocks):
            raise ValueError(f"hook_blocks {self.hook_blocks} must lie in [0, {self.depth})")
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(
                f"output_activation must be one of {OUTPUT_ACTIVATIONS}, "
                f"got {self.output_activation!r}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")

    @property
    def window_size(self) -> int:
        """Patch-encoder window (px) = working_size / 4."""
        return self.working_size // 4

    @property
    def grid_size(self) -> int:
        """Tokens per window side."""
        return self.window_size // self.patch_size

    @property
    def upsample_steps(self) -> dict[str, int]:
        """Number of ×2 deconvs per encoder projection, derived from the patch size.

        Targets: latent0 S/2, latent1 S/4, level 0 S/8, level 1 S/16, level 2 and image S/32.
        With patch 16 this is Depth Pro's 3, 2, 1, 1, 1, 1.
        """
        k = int(math.log2(self.patch_size))
        return {
            "latent0": k - 1,
            "latent1": k - 2,
            "level0": k - 3,
            "level1": k - 3,
            "level2": k - 3,
            "lowres": k - 3,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {', '.join(unknown)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)
