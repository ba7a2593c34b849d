"""LayerIndexNet: encoder -> decoder -> head -> output activation."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .decoder import FusionDecoder
from .encoder import MultiResEncoder
from .head import apply_output_activation, build_head


class LayerIndexNet(nn.Module):
    """x: float (B, 3, S, S) normalised with ``config.mean/std`` -> float (B, 1, S, S).

    Higher output = nearer the front. Attributes ``encoder``, ``decoder`` and ``head`` are the
    parameter groups (the trainer gives the encoder its own learning rate).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = MultiResEncoder(config)
        dims = (config.decoder_features, *config.encoder_dims)
        self.decoder = FusionDecoder(dims, config.decoder_features)
        self.head = build_head(config.decoder_features, config.head_features)

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Head output before the activation, float (B, 1, S, S)."""
        return self.head(self.decoder(self.encoder(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_output_activation(self.forward_raw(x), self.config.output_activation)
