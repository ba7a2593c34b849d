"""Scale-and-shift-invariant losses on layer-index maps (PAPER_NOTES §5).

Every map is normalised per image: d̂ = (d − median(d)) / mean|d − median(d)|, where the median is
the lower median (``torch.median``) over the valid pixels and the scale is clamped at ``eps``. The
loss then compares the normalised prediction with the normalised target, so it ignores any positive
scale and any shift of either map.
"""

from __future__ import annotations

import torch

DEFAULT_EPS = 1e-6


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
    b = x.shape[0]
    flat = x.reshape(b, -1)
    mflat = m.reshape(b, -1)
    nan = torch.full_like(flat, float("nan"))
    med = torch.nanmedian(torch.where(mflat, flat, nan), dim=1).values  # (B,)
    med = torch.nan_to_num(med, nan=0.0)
    dev = (flat - med[:, None]).abs() * mflat
    count = mflat.sum(dim=1).clamp(min=1)
    scale = (dev.sum(dim=1) / count).clamp(min=eps)
    return ((flat - med[:, None]) / scale[:, None]).reshape_as(x)


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


def layer_index_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor | None = None,
    edge_weight: float = 0.0,
) -> torch.Tensor:
    """Training objective: ssi_mae_loss + edge_weight · gradient_matching_loss (scalar)."""
    loss = ssi_mae_loss(pred, target, mask)
    if edge_weight > 0:
        loss = loss + edge_weight * gradient_matching_loss(pred, target, mask)
    return loss
