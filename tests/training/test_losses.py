"""Losses: hand-computed values, mask handling and scale/shift invariance."""

from __future__ import annotations

import math

import pytest
import torch

from training.losses import (
    gradient_matching_loss,
    layer_index_loss,
    loss_terms,
    normalize_ssi,
    pair_sampling_weights,
    pairwise_rank_loss,
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


# ------------------------------------------------------------------ pairwise ranking loss


def _pieces(seed: int = 0, size: int = 24) -> torch.Tensor:
    """(2, 1, size, size) dense-rank labels: background 0 and four overlapping rectangles."""
    gen = torch.Generator().manual_seed(seed)
    out = torch.zeros(2, 1, size, size)
    for b in range(2):
        for k in range(1, 5):
            y, x = (int(v) for v in torch.randint(0, size * 2 // 3, (2,), generator=gen))
            out[b, 0, y : y + size // 3, x : x + size // 3] = k
    ranks = [torch.unique(im, return_inverse=True)[1].float() for im in out]
    return torch.stack(ranks)


def _rank(pred: torch.Tensor, target: torch.Tensor, seed: int = 0, **kw: object) -> float:
    gen = torch.Generator().manual_seed(seed)
    return pairwise_rank_loss(pred, target, generator=gen, **kw).item()


def test_rank_loss_hand_computed_two_pixels() -> None:
    # target (0, 1); pred normalised: median 0, MAD 0.5 -> (0, 2); every untied pair has |Δ| = 2
    target = _row(0, 1)
    assert _rank(_row(0, 1), target) == pytest.approx(0.1 * math.log1p(math.exp(-20)), abs=1e-9)
    assert _rank(_row(1, 0), target) == pytest.approx(0.1 * math.log1p(math.exp(20)), rel=1e-5)


def test_rank_loss_perfect_is_near_zero_reversed_is_large() -> None:
    target = _pieces()
    perfect = _rank(target.clone(), target)
    reversed_ = _rank(-target, target)
    assert perfect < 1e-3
    assert reversed_ > 0.5
    assert _rank(torch.zeros_like(target), target) == pytest.approx(
        0.1 * math.log(2.0), rel=1e-4
    )  # a constant map: Δ = 0 on every pair


@pytest.mark.parametrize("scale,shift", [(0.01, 0.0), (3.0, -7.0), (250.0, 1e3)])
def test_rank_loss_invariant_to_prediction_scale_shift_and_to_relabelling(
    scale: float, shift: float
) -> None:
    target = _pieces(1)
    pred = torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    base = _rank(pred, target)
    assert base > 0.05
    assert _rank(pred * scale + shift, target) == pytest.approx(base, rel=1e-4)
    # an order-preserving relabelling that keeps the background at 0
    relabelled = torch.tensor([0.0, 2.0, 5.0, 6.0, 11.0])[target.long()]
    assert _rank(pred, relabelled) == pytest.approx(base, rel=1e-6)


def test_rank_loss_weights_foreground_pairs() -> None:
    # background at the back is right, the two pieces are swapped: only fg-fg pairs are wrong
    target = _row(0, 0, 1, 2)
    pred = _row(0, 0, 2, 1)
    low = _rank(pred, target, fg_weight=1.0, num_pairs=20_000)
    high = _rank(pred, target, fg_weight=10.0, num_pairs=20_000)
    assert 0.0 < low < high
    assert _rank(pred, target, fg_weight=0.0, num_pairs=20_000) < 1e-3  # bg pairs are all right


def test_rank_loss_without_pairs_is_zero_and_finite() -> None:
    flat = torch.zeros(2, 1, 5, 5)
    assert _rank(torch.randn(2, 1, 5, 5), flat) == 0.0  # one piece only: every pair is tied
    target = _pieces()
    none = torch.zeros_like(target, dtype=torch.bool)
    assert _rank(torch.randn(target.shape), target, mask=none) == 0.0


def test_rank_loss_respects_mask() -> None:
    target = _row(0, 1, 2, 3)
    mask = _row(1, 1, 1, 0).bool()
    # the masked pixel is wrongly ordered; the loss must not see it
    pred = _row(0, 1, 2, -100)
    assert _rank(pred, target, mask=mask) < 1e-3
    assert _rank(pred, target) > 1.0


def test_pair_sampling_balances_pieces() -> None:
    target = torch.zeros(1, 1, 10, 10)
    target[0, 0, 0, 0] = 1  # a one-pixel piece next to 99 background pixels
    mask = torch.ones_like(target, dtype=torch.bool)
    w = pair_sampling_weights(target[:, 0], mask[:, 0], balance=1.0)
    assert w.sum().item() == pytest.approx(1.0)
    assert w[0, 0].item() == pytest.approx(0.5)  # each piece gets half the draws
    uniform = pair_sampling_weights(target[:, 0], mask[:, 0], balance=0.0)
    assert uniform[0, 0].item() == pytest.approx(0.01)


def test_rank_loss_gradient_fixes_the_order_among_pieces() -> None:
    # the background is already at the back, the four pieces are in reverse order
    target = _pieces(3)
    values = torch.tensor([-3.0, 4.0, 3.0, 2.0, 1.0], requires_grad=True)
    opt = torch.optim.Adam([values], lr=0.2)
    before = _rank(values.detach()[target.long()], target)
    for i in range(60):
        opt.zero_grad()
        pred = values[target.long()]
        pairwise_rank_loss(pred, target, generator=torch.Generator().manual_seed(i)).backward()
        opt.step()
    after = _rank(values.detach()[target.long()], target)
    assert after < 0.05 * before
    assert torch.all(values[1:].detach().diff() > 0)  # pieces now in label order


def test_loss_terms_sum_to_layer_index_loss() -> None:
    target = _pieces()
    pred = torch.randn(target.shape)
    torch.manual_seed(5)
    terms = loss_terms(pred, target, edge_weight=0.1, rank_weight=0.5)
    assert set(terms) == {"ssi_mae", "edge", "rank"}
    torch.manual_seed(5)
    total = layer_index_loss(pred, target, edge_weight=0.1, rank_weight=0.5)
    assert total.item() == pytest.approx(sum(t.item() for t in terms.values()), rel=1e-6)
    assert set(loss_terms(pred, target)) == {"ssi_mae"}
