"""LayerIndexNet: encoder -> decoder -> head -> output activation."""

from __future__ import annotations

import torch
from torch import nn

from .cnn_encoder import CNNEncoder
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
        self.encoder = CNNEncoder(config) if config.encoder == "cnn" else MultiResEncoder(config)
        dims = (config.decoder_features, *config.encoder_dims)
        self.decoder = FusionDecoder(dims, config.decoder_features)
        self.head = build_head(config.decoder_features, config.head_features)

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Head output before the activation, float (B, 1, S, S).

        The head's last 1×1 conv runs in its weights' dtype (fp32) even under autocast, so a bf16
        forward does not quantise the index map to bf16's 8-bit mantissa (which would tie
        neighbouring pieces).
        """
        h = self.head[:-1](self.decoder(self.encoder(x)))
        last = self.head[-1]
        dev = x.device.type
        if dev in ("cpu", "cuda") and torch.is_autocast_enabled(dev):
            with torch.autocast(device_type=dev, enabled=False):
                return last(h.to(last.weight.dtype))
        return last(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return apply_output_activation(self.forward_raw(x), self.config.output_activation)
