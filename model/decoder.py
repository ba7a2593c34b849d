"""Multi-resolution fusion decoder (DPT-style residual conv fusion)."""

from __future__ import annotations

import torch
from torch import nn


class ResidualUnit(nn.Module):
    """x + conv(relu(conv(relu(x)))), 3×3 convs with bias, shape-preserving."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(ch, ch, 3, padding=1),
            nn.ReLU(inplace=False),
            nn.Conv2d(ch, ch, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.residual(x)


class FusionBlock(nn.Module):
    """Fuse a running feature with an optional skip, then (optionally) upsample ×2."""

    def __init__(self, ch: int, upsample: bool) -> None:
        super().__init__()
        self.resnet1 = ResidualUnit(ch)
        self.resnet2 = ResidualUnit(ch)
        self.deconv = nn.ConvTranspose2d(ch, ch, 2, stride=2, bias=False) if upsample else None
        self.out_conv = nn.Conv2d(ch, ch, 1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resnet1(skip)
        x = self.resnet2(x)
        if self.deconv is not None:
            x = self.deconv(x)
        return self.out_conv(x)


class FusionDecoder(nn.Module):
    """Five encoder maps (high to low res) -> float (B, width, S/2, S/2).

    ``in_dims`` are the encoder channels; convs[0] is Identity (its input already has ``width``
    channels). ``fusions[4].resnet1`` is never used but kept for checkpoint compatibility.
    """

    def __init__(self, in_dims: tuple[int, ...], width: int) -> None:
        super().__init__()
        if in_dims[0] != width:
            raise ValueError(f"first encoder map must have {width} channels, got {in_dims[0]}")
        self.convs = nn.ModuleList(
            [nn.Identity()] + [nn.Conv2d(c, width, 3, padding=1, bias=False) for c in in_dims[1:]]
        )
        self.fusions = nn.ModuleList([FusionBlock(width, upsample=i > 0) for i in range(5)])

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        # channels_last: oneDNN's 3×3 convs run ~15-25 % faster on CPU (measured at 384², 256 ch)
        feats = [f.contiguous(memory_format=torch.channels_last) for f in feats]
        x = self.fusions[4](self.convs[4](feats[4]))
        for i in (3, 2, 1, 0):
            x = self.fusions[i](x, self.convs[i](feats[i]))
        return x
