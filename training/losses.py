"""Scale-and-shift-invariant losses on layer-index maps (PAPER_NOTES §5).

Every map is normalised per image: d̂ = (d − median(d)) / mean|d − median(d)|, where the median is
the lower median (``torch.median``) over the valid pixels and the scale is clamped at ``eps``. The
loss then compares the normalised prediction with the normalised target, so it ignores any positive
scale and any shift of either map.

:func:`pairwise_rank_loss` targets the order among the drawing's parts directly: a logistic
ranking loss on sampled pixel pairs of different pieces, on the normalised prediction.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_EPS = 1e-6
DEFAULT_RANK_PAIRS = 4096
DEFAULT_RANK_FG_WEIGHT = 4.0
DEFAULT_RANK_BALANCE = 0.5
DEFAULT_RANK_TEMPERATURE = 0.1


def _as_bhw(x: torch.Tensor, name: str) -> torch.Tensor:
    """Accept (B, H, W) or (B, 1, H, W); return (B, H, W)."""
    if x.dim() == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.dim() == 3:
        return x
    raise ValueError(f"{name} must have shape (B, H, W) or (B, 1, H, W), got {tuple(x.shape)}")


def _prepare(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape-check and return pred, target (float32) and a boolean mask, all (B, H, W)."""
    p = _as_bhw(pred, "prediction").float()
    t = _as_bhw(target, "target").float()
    if p.shape != t.shape:
        raise ValueError(f"prediction {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    if mask is None:
        m = torch.ones_like(t, dtype=torch.bool)
    else:
        m = _as_bhw(mask, "mask").bool()
        if m.shape != t.shape:
            raise ValueError(f"mask {tuple(m.shape)} and target {tuple(t.shape)} differ in shape")
    return p, t, m


def ssi_statistics(
    x: torch.Tensor, m: torch.Tensor, eps: float = DEFAULT_EPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """(median, scale) per image, each float32 (B,): the lower median of the masked pixels and
    max(mean |x − median|, eps) over them. x: float (B, H, W); m: bool (B, H, W). Images with no
    valid pixel get median 0."""
    b = x.shape[0]
    flat = x.reshape(b, -1)
    mflat = m.reshape(b, -1)
    nan = torch.full_like(flat, float("nan"))
    med = torch.nanmedian(torch.where(mflat, flat, nan), dim=1).values  # (B,)
    med = torch.nan_to_num(med, nan=0.0)
    dev = (flat - med[:, None]).abs() * mflat
    count = mflat.sum(dim=1).clamp(min=1)
    scale = (dev.sum(dim=1) / count).clamp(min=eps)
    return med, scale


def normalize_ssi(
    d: torch.Tensor, mask: torch.Tensor | None = None, eps: float = DEFAULT_EPS
) -> torch.Tensor:
    """Median/MAD-normalise each map of a batch.

    d: float (B, H, W) or (B, 1, H, W); mask: same shape, True = pixel counts (None = all).
    Returns float32 (B, H, W): (d − median) / max(mean|d − median|, eps) per image, statistics
    taken over the masked pixels only; unmasked pixels are normalised with the same statistics.
    An image with no valid pixel is returned as zeros.
    """
    x = _as_bhw(d, "map").float()
    m = torch.ones_like(x, dtype=torch.bool) if mask is None else _as_bhw(mask, "mask").bool()
    med, scale = ssi_statistics(x, m, eps)
    return (x - med[:, None, None]) / scale[:, None, None]


def ssi_mae_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Scale-and-shift-invariant mean absolute error (the paper's training loss).

    pred, target: float (B, H, W) or (B, 1, H, W), higher = front; mask: True = pixel counts.
    Returns a scalar: the mean over images of mean |d̂_pred − d̂_target| over each image's valid
    pixels (images without a valid pixel contribute 0). Unitless, ≥ 0.
    """
    p, t, m = _prepare(pred, target, mask)
    diff = (normalize_ssi(p, m, eps) - normalize_ssi(t, m, eps)).abs() * m
    per_image = diff.flatten(1).sum(dim=1) / m.flatten(1).sum(dim=1).clamp(min=1)
    return per_image.mean()


def gradient_matching_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    scales: int = 4,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Multi-scale gradient matching on the normalised maps (the optional edge loss).

    With R = d̂_pred − d̂_target, at each scale k = 0..scales−1 (maps subsampled by 2^k) the term is
    the mean over valid neighbour pairs of |∂x R| + |∂y R| (a pair counts when both pixels are
    valid); the loss is the mean of the per-scale terms (scales too small for a pair are skipped).
    pred, target: float (B, H, W) or (B, 1, H, W). Returns a scalar ≥ 0; 0 for a perfect match.
    """
    if scales < 1:
        raise ValueError(f"scales must be ≥ 1, got {scales}")
    p, t, m = _prepare(pred, target, mask)
    residual = (normalize_ssi(p, m, eps) - normalize_ssi(t, m, eps)) * m
    terms: list[torch.Tensor] = []
    for k in range(scales):
        step = 2**k
        r = residual[:, ::step, ::step]
        v = m[:, ::step, ::step].float()
        if r.shape[1] < 2 and r.shape[2] < 2:
            break
        vx = v[:, :, 1:] * v[:, :, :-1]
        vy = v[:, 1:, :] * v[:, :-1, :]
        gx = (r[:, :, 1:] - r[:, :, :-1]).abs() * vx
        gy = (r[:, 1:, :] - r[:, :-1, :]).abs() * vy
        count = (vx.sum() + vy.sum()).clamp(min=1)
        terms.append((gx.sum() + gy.sum()) / count)
    return torch.stack(terms).mean()


def pair_sampling_weights(
    target: torch.Tensor, mask: torch.Tensor, balance: float = DEFAULT_RANK_BALANCE
) -> torch.Tensor:
    """Per-pixel sampling probabilities for ranking pairs, float32 (B, H·W), rows sum to 1.

    target: dense-rank labels (B, H, W) (integers ≥ 0, 0 = background); mask: bool (B, H, W).
    A mixture: ``1 − balance`` uniform over valid pixels, ``balance`` uniform over the pieces
    visible in the image and then over the piece's pixels, so a small part is drawn about as often
    as a large one. Rows of images without a valid pixel are uniform (their pairs get weight 0).
    """
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance must be in [0, 1], got {balance}")
    b = target.shape[0]
    lab = target.reshape(b, -1).round().long().clamp(min=0)
    valid = mask.reshape(b, -1).float()
    k = int(lab.max()) + 1 if lab.numel() else 1
    area = torch.zeros(b, k, device=lab.device).scatter_add_(1, lab, valid)  # (B, K) px
    pixel_area = area.gather(1, lab).clamp(min=1.0)
    n_valid = valid.sum(dim=1, keepdim=True)
    n_pieces = (area > 0).sum(dim=1, keepdim=True).clamp(min=1)
    w = valid * ((1.0 - balance) / n_valid.clamp(min=1.0) + balance / (n_pieces * pixel_area))
    w = torch.where(n_valid > 0, w, torch.ones_like(w))
    return w / w.sum(dim=1, keepdim=True)


def pairwise_rank_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    num_pairs: int = DEFAULT_RANK_PAIRS,
    fg_weight: float = DEFAULT_RANK_FG_WEIGHT,
    balance: float = DEFAULT_RANK_BALANCE,
    temperature: float = DEFAULT_RANK_TEMPERATURE,
    generator: torch.Generator | None = None,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """Logistic ranking loss over pixel pairs that belong to different pieces.

    pred: float (B, H, W) or (B, 1, H, W), higher = front; target: dense-rank labels, same shape
    (0 = background); mask: True = pixel counts (None = all). Per image, ``num_pairs`` pixel pairs
    (a, b) are drawn with replacement from :func:`pair_sampling_weights` (``balance`` in [0, 1]);
    pairs with equal labels are dropped. With the prediction median/MAD-normalised (d̂, exactly as
    in :func:`ssi_mae_loss`, gradient through the statistics included, so the loss cannot be
    lowered by inflating the map's spread: a run with the statistics held constant drove the
    sigmoid into saturation and diverged), Δ = d̂_a − d̂_b and s = sign(label_a − label_b), each
    pair costs
    ``τ · softplus(−s·Δ / τ)`` (τ = ``temperature``, in normalised index units): ≈ 0 when Δ has
    the right sign with a margin of a few τ, ≈ |Δ| when it has the wrong one. Pairs whose two
    pixels both lie on drawn pieces (label > 0) weigh ``fg_weight``, pairs with background 1.
    Returns a scalar ≥ 0: the mean over images of each image's weighted mean pair cost (images
    without a valid pair contribute 0). Invariant to any positive scale and shift of ``pred``
    and to any order-preserving relabelling of ``target`` that keeps 0 as background; draws from
    ``generator`` (default: torch's global RNG, so a resumed run repeats its pairs).
    """
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be ≥ 1, got {num_pairs}")
    if temperature <= 0 or fg_weight < 0:
        raise ValueError(f"need temperature > 0 and fg_weight ≥ 0, got {temperature}, {fg_weight}")
    p, t, m = _prepare(pred, target, mask)
    b = p.shape[0]
    d = normalize_ssi(p, m, eps).reshape(b, -1)
    lab = t.reshape(b, -1)
    weights = pair_sampling_weights(t, m, balance)
    ia = torch.multinomial(weights, num_pairs, replacement=True, generator=generator)
    ib = torch.multinomial(weights, num_pairs, replacement=True, generator=generator)
    la, lb = lab.gather(1, ia), lab.gather(1, ib)
    sign = torch.sign(la - lb)
    delta = d.gather(1, ia) - d.gather(1, ib)
    pair_w = (sign != 0).float() * torch.where((la > 0) & (lb > 0), fg_weight, 1.0)
    pair_w = pair_w * (m.reshape(b, -1).any(dim=1, keepdim=True)).float()
    cost = temperature * F.softplus(-sign * delta / temperature)
    per_image = (pair_w * cost).sum(dim=1) / pair_w.sum(dim=1).clamp(min=eps)
    return per_image.mean()


def loss_terms(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    edge_weight: float = 0.0,
    rank_weight: float = 0.0,
    rank_pairs: int = DEFAULT_RANK_PAIRS,
    rank_fg_weight: float = DEFAULT_RANK_FG_WEIGHT,
) -> dict[str, torch.Tensor]:
    """The weighted terms of the training objective: ``ssi_mae`` always, ``edge`` and ``rank``
    when their weight is > 0 (each already multiplied by its weight; scalars)."""
    terms = {"ssi_mae": ssi_mae_loss(pred, target, mask)}
    if edge_weight > 0:
        terms["edge"] = edge_weight * gradient_matching_loss(pred, target, mask)
    if rank_weight > 0:
        terms["rank"] = rank_weight * pairwise_rank_loss(
            pred, target, mask, num_pairs=rank_pairs, fg_weight=rank_fg_weight
        )
    return terms


def layer_index_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    edge_weight: float = 0.0,
    rank_weight: float = 0.0,
    rank_pairs: int = DEFAULT_RANK_PAIRS,
    rank_fg_weight: float = DEFAULT_RANK_FG_WEIGHT,
) -> torch.Tensor:
    """Training objective (scalar): ssi_mae_loss + edge_weight · gradient_matching_loss +
    rank_weight · pairwise_rank_loss (the sum of :func:`loss_terms`)."""
    terms = loss_terms(pred, target, mask, edge_weight, rank_weight, rank_pairs, rank_fg_weight)
    return torch.stack(list(terms.values())).sum()
