"""Losses: hand-computed values, mask handling and scale/shift invariance."""

from __future__ import annotations

import pytest
import torch

from training.losses import (
    gradient_matching_loss,
    layer_index_loss,
    normalize_ssi,
    ssi_mae_loss,
)


def _row(*values: float) -> torch.Tensor:
    """A (1, 1, 1, W) map from a list of values."""
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 1, -1)


def test_normalize_hand_computed() -> None:
    # median 1, mean |d - 1| = 2/3  ->  (-1.5, 0, 1.5)
    out = normalize_ssi(_row(0, 1, 2))
    assert torch.allclose(out.flatten(), torch.tensor([-1.5, 0.0, 1.5]))


def test_normalize_even_count_uses_lower_median() -> None:
    # lower median of (0, 1, 2, 3) is 1; mean |d - 1| = 1
    out = normalize_ssi(_row(0, 1, 2, 3))
    assert torch.allclose(out.flatten(), torch.tensor([-1.0, 0.0, 1.0, 2.0]))


def test_ssi_mae_hand_computed() -> None:
    # target -> (-1.5, 0, 1.5); pred (0, 0, 3): median 0, scale 1 -> (0, 0, 3)
    # |diff| = (1.5, 0, 1.5) -> mean 1.0
    assert ssi_mae_loss(_row(0, 0, 3), _row(0, 1, 2)).item() == pytest.approx(1.0)
    # reversed prediction: (1.5, 0, -1.5) vs (-1.5, 0, 1.5) -> mean 2.0
    assert ssi_mae_loss(_row(2, 1, 0), _row(0, 1, 2)).item() == pytest.approx(2.0)


def test_ssi_mae_constant_prediction_is_eps_guarded() -> None:
    # constant pred normalises to 0 (scale clamped), target (0,1,2,3) -> (-1,0,1,2): mean |.| = 1
    loss = ssi_mae_loss(_row(5, 5, 5, 5), _row(0, 1, 2, 3))
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(1.0)


def test_ssi_mae_mask_excludes_pixels_from_statistics_and_mean() -> None:
    mask = _row(1, 1, 1, 0).bool()
    loss = ssi_mae_loss(_row(0, 0, 3, -50), _row(0, 1, 2, 100), mask)
    assert loss.item() == pytest.approx(1.0)


def test_ssi_mae_is_mean_over_images() -> None:
    pred = torch.cat([_row(0, 0, 3), _row(0, 1, 2)])
    target = torch.cat([_row(0, 1, 2), _row(0, 1, 2)])
    assert ssi_mae_loss(pred, target).item() == pytest.approx(0.5)  # (1.0 + 0.0) / 2


def test_gradient_matching_hand_computed() -> None:
    # residual (1.5, 0, 1.5): |dx| = (1.5, 1.5) -> 1.5 at scale 0; subsampled (1.5, 1.5) -> 0
    pred, target = _row(0, 0, 3), _row(0, 1, 2)
    assert gradient_matching_loss(pred, target, scales=1).item() == pytest.approx(1.5)
    assert gradient_matching_loss(pred, target, scales=2).item() == pytest.approx(0.75)


def test_layer_index_loss_adds_weighted_edge_term() -> None:
    pred, target = _row(0, 0, 3), _row(0, 1, 2)
    expected = 1.0 + 0.1 * gradient_matching_loss(pred, target).item()
    assert layer_index_loss(pred, target, edge_weight=0.1).item() == pytest.approx(expected)
    assert layer_index_loss(pred, target).item() == pytest.approx(1.0)


@pytest.mark.parametrize("scale,shift", [(0.01, 0.0), (3.0, -7.0), (250.0, 1e3)])
def test_losses_invariant_to_positive_scale_and_shift(scale: float, shift: float) -> None:
    gen = torch.Generator().manual_seed(0)
    pred = torch.randn(3, 1, 12, 17, generator=gen)
    target = torch.randint(0, 6, (3, 1, 12, 17), generator=gen).float()
    mask = torch.rand(3, 1, 12, 17, generator=gen) > 0.2
    for fn in (ssi_mae_loss, gradient_matching_loss):
        base = fn(pred, target, mask).item()
        assert base > 0.1
        assert fn(pred * scale + shift, target, mask).item() == pytest.approx(base, rel=1e-4)
        assert fn(pred, target * scale + shift, mask).item() == pytest.approx(base, rel=1e-4)


def test_loss_is_zero_for_affine_truth_and_has_gradients() -> None:
    target = torch.randint(0, 5, (2, 1, 9, 9), generator=torch.Generator().manual_seed(1)).float()
    assert ssi_mae_loss(4.0 * target + 2.0, target).item() == pytest.approx(0.0, abs=1e-5)
    pred = torch.randn(2, 1, 9, 9, requires_grad=True)
    layer_index_loss(pred, target, edge_weight=0.1).backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_shape_mismatch_raises_one_line_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        ssi_mae_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5))
