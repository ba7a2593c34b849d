"""Convolutional encoder: a stock timm CNN backbone's five feature maps (strides 2 … 32).

An alternative to :class:`~model.encoder.MultiResEncoder` with the same output contract, so the
fusion decoder and head are shared. The backbone is built with random weights (timm never
downloads here); pretrained weights are loaded separately into ``backbone`` (e.g. by
``training.pretrained``).
"""

from __future__ import annotations

import timm
import torch
from torch import nn

from .config import ModelConfig


def build_cnn_backbone(cfg: ModelConfig) -> nn.Module:
    """timm ``cfg.cnn_timm_name`` with ``features_only`` at strides 2, 4, 8, 16, 32 (random init).

    BatchNorm uses ``cfg.cnn_bn_eps`` (1e-3 matches TF-trained EfficientNet-Lite weights).
    """
    return timm.create_model(
        cfg.cnn_timm_name,
        pretrained=False,
        features_only=True,
        out_indices=(0, 1, 2, 3, 4),
        bn_eps=cfg.cnn_bn_eps,
    )


class CNNEncoder(nn.Module):
    """x: float (B, 3, S, S) normalised -> five maps, high to low resolution.

    Output channels/resolutions, as MultiResEncoder: [decoder_features @ S/2, dims[0] @ S/4,
    dims[1] @ S/8, dims[2] @ S/16, dims[3] @ S/32]. The stride-2 map goes through a 1×1
    projection (``proj_s2``) to ``decoder_features`` channels; the others are the backbone's own
    maps, so ``cfg.encoder_dims`` must equal the backbone's channels (checked on construction).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.backbone = build_cnn_backbone(cfg)
        channels = tuple(self.backbone.feature_info.channels())
        reductions = tuple(self.backbone.feature_info.reduction())
        if reductions != (2, 4, 8, 16, 32):
            raise ValueError(f"{cfg.cnn_timm_name}: feature strides {reductions}, need 2 … 32")
        if channels[1:] != tuple(cfg.encoder_dims):
            raise ValueError(
                f"encoder_dims {tuple(cfg.encoder_dims)} must equal the channels of "
                f"{cfg.cnn_timm_name} at strides 4-32: {channels[1:]}"
            )
        self.proj_s2 = nn.Conv2d(channels[0], cfg.decoder_features, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s = self.cfg.working_size
        if x.shape[-2:] != (s, s):
            raise ValueError(f"encoder input must be {s}×{s}, got {x.shape[-2]}×{x.shape[-1]}")
        feats = self.backbone(x)
        return [self.proj_s2(feats[0]), *feats[1:]]
