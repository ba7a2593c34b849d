"""Layer-index head: decoder features at S/2 -> one channel at S, plus the output activation."""

from __future__ import annotations

import torch
from torch import nn


def build_head(in_ch: int, features: tuple[int, int]) -> nn.Sequential:
    """conv3×3 in→f0 · deconv×2 f0→f0 · conv3×3 f0→f1 · ReLU · conv1×1 f1→1 (bias 0).

    Indices 0, 1, 2, 4 hold weights, matching Depth Pro's ``head.*`` keys.
    """
    f0, f1 = features
    last = nn.Conv2d(f1, 1, 1)
    nn.init.zeros_(last.bias)
    return nn.Sequential(
        nn.Conv2d(in_ch, f0, 3, padding=1),
        nn.ConvTranspose2d(f0, f0, 2, stride=2),
        nn.Conv2d(f0, f1, 3, padding=1),
        nn.ReLU(),
        last,
    )


def apply_output_activation(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Raw head output -> layer index, higher = front.

    "sigmoid": values in (0, 1). "inverse": −1/clamp(relu(x), 1e-4, 1e4) in [−1e4, −1e-4]
    (the paper's negated depth from canonical inverse depth).
    """
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "inverse":
        return -1.0 / torch.clamp(torch.relu(x), 1e-4, 1e4)
    raise ValueError(f"unknown output activation {kind!r}; use 'sigmoid' or 'inverse'")
