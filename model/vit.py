"""ViT backbones (stock timm VisionTransformer, random init; never downloads weights)."""

from __future__ import annotations

import timm
import torch
from torch import nn

from .config import ModelConfig
from .fast_linear import use_fast_linear


def build_vit(cfg: ModelConfig) -> nn.Module:
    """A timm ViT at ``cfg.vit_img_size`` with ``cfg.patch_size`` patches, no head.

    For Depth Pro this is ``vit_large_patch14_dinov2`` re-built at img_size 384, patch 16, whose
    state_dict matches Apple's encoders key for key. ``dynamic_img_size`` lets the same weights
    run on other window sizes (position embedding resampled). Its Linear layers are
    :class:`~model.fast_linear.FastLinear` (same parameters, faster fp32 CPU inference).
    """
    vit = timm.create_model(
        cfg.vit_timm_name,
        pretrained=False,
        img_size=cfg.vit_img_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        mlp_ratio=cfg.mlp_ratio,
        init_values=cfg.layerscale_init,
        num_classes=0,
        dynamic_img_size=True,
    )
    return use_fast_linear(vit)


def tokens_to_map(tokens: torch.Tensor, num_prefix: int, grid: int) -> torch.Tensor:
    """(N, prefix + grid², D) tokens -> (N, D, grid, grid), row-major, prefix tokens dropped."""
    n, _, d = tokens.shape
    return tokens[:, num_prefix:].reshape(n, grid, grid, d).permute(0, 3, 1, 2)
