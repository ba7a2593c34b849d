"""FastLinear: same parameters and results as nn.Linear, autograd intact."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.fast_linear import FastLinear, use_fast_linear


def test_swaps_linears_and_keeps_parameters() -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 4, bias=False))
    before = {k: v.clone() for k, v in mlp.state_dict().items()}
    use_fast_linear(mlp)
    assert [type(m) for m in mlp] == [FastLinear, nn.GELU, FastLinear]
    assert mlp[2].bias is None
    assert before.keys() == mlp.state_dict().keys()
    assert all(torch.equal(before[k], v) for k, v in mlp.state_dict().items())


def test_inference_matches_linear_and_training_has_gradients() -> None:
    torch.manual_seed(0)
    layer = use_fast_linear(nn.Sequential(nn.Linear(64, 48)))[0]
    x = torch.randn(3, 7, 64)
    with torch.inference_mode():
        fast = layer(x)
    torch.testing.assert_close(fast, F.linear(x, layer.weight, layer.bias), rtol=1e-5, atol=1e-5)
    y = layer(x)  # grad needed: the autograd path
    y.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (48, 64)
    with torch.inference_mode():
        half = layer.to(torch.bfloat16)(x.bfloat16())
    assert half.dtype == torch.bfloat16
