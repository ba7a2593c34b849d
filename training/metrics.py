"""Evaluation metrics on layer-index maps (PAPER_NOTES §8, issue 4).

All functions take a prediction and a ground truth as 2-D arrays of the same (H, W) shape (any
aspect ratio), higher = nearer the front; the ground truth is the dense rank (0 = background).

* Order (the paper's "depth ordering consistency"): ``num_pairs`` pixel pairs drawn uniformly with
  replacement from a fixed seed, pairs tied in the ground truth dropped, a pair correct when
  sign(Δpred) agrees with sign(Δgt). Lenient (the paper's code): a tie in the prediction counts as
  correct (Δpred·Δgt ≥ 0). Strict: it counts as wrong (Δpred·Δgt > 0).
* Order-FG: the strict Order over pairs whose two pixels both lie on drawn pieces (gt > 0).
* SI-MAE / SI-MSE: mean |·| / mean (·)² of the difference of the median/MAD-normalised maps.

A metric that is undefined for an image (no untied pair, or no foreground) is NaN.
"""

from __future__ import annotations

import numpy as np

DEFAULT_PAIRS = 50_000
DEFAULT_SEED = 0
EPS = 1e-6

METRIC_NAMES: tuple[str, ...] = ("order", "order_strict", "order_fg", "si_mae", "si_mse")


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim != 2 or g.ndim != 2:
        raise ValueError(f"maps must be 2-D (H, W), got {p.shape} and {g.shape}")
    if p.shape != g.shape:
        raise ValueError(f"prediction {p.shape} and ground truth {g.shape} differ in shape")
    return p, g


def normalize_map(d: np.ndarray, eps: float = EPS) -> np.ndarray:
    """(d − median) / max(mean|d − median|, eps) for one map; lower median like the loss.

    d: (H, W) any real dtype. Returns float64 (H, W).
    """
    x = np.asarray(d, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("cannot normalise an empty map")
    k = (x.size - 1) // 2
    med = np.partition(x, k)[k]
    scale = max(float(np.abs(x - med).mean()), eps)
    return ((np.asarray(d, dtype=np.float64) - med) / scale).reshape(np.shape(d))


def _pair_order(
    p: np.ndarray, g: np.ndarray, candidates: np.ndarray, num_pairs: int, seed: int, strict: bool
) -> float:
    """Order over pairs drawn from ``candidates`` (flat pixel indices)."""
    if candidates.size < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    a = candidates[rng.integers(0, candidates.size, size=num_pairs)]
    b = candidates[rng.integers(0, candidates.size, size=num_pairs)]
    pf, gf = p.ravel(), g.ravel()
    dg = gf[a] - gf[b]
    keep = dg != 0
    if not keep.any():
        return float("nan")
    prod = (pf[a] - pf[b])[keep] * np.sign(dg[keep])
    correct = prod > 0 if strict else prod >= 0
    return float(correct.mean())


def order_accuracy(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    strict: bool = False,
    num_pairs: int = DEFAULT_PAIRS,
    seed: int = DEFAULT_SEED,
) -> float:
    """Fraction in [0, 1] of untied-in-gt random pixel pairs ordered like the ground truth.

    strict=False is the paper's lenient version (prediction ties count as correct).
    """
    p, g = _check(pred, gt)
    return _pair_order(p, g, np.arange(g.size), num_pairs, seed, strict)


def order_fg(
    pred: np.ndarray, gt: np.ndarray, *, num_pairs: int = DEFAULT_PAIRS, seed: int = DEFAULT_SEED
) -> float:
    """Strict Order over pairs whose two pixels both have gt > 0 (drawn pieces); in [0, 1]."""
    p, g = _check(pred, gt)
    return _pair_order(p, g, np.flatnonzero(g.ravel() > 0), num_pairs, seed, strict=True)


def si_mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean |norm(pred) − norm(gt)| (unitless, ≥ 0); 0 for any positive-affine map of gt."""
    p, g = _check(pred, gt)
    return float(np.abs(normalize_map(p) - normalize_map(g)).mean())


def si_mse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean (norm(pred) − norm(gt))² (unitless, ≥ 0)."""
    p, g = _check(pred, gt)
    return float(((normalize_map(p) - normalize_map(g)) ** 2).mean())


def all_metrics(
    pred: np.ndarray, gt: np.ndarray, *, num_pairs: int = DEFAULT_PAIRS, seed: int = DEFAULT_SEED
) -> dict[str, float]:
    """Every metric of METRIC_NAMES for one image, as a dict name → value."""
    return {
        "order": order_accuracy(pred, gt, num_pairs=num_pairs, seed=seed),
        "order_strict": order_accuracy(pred, gt, strict=True, num_pairs=num_pairs, seed=seed),
        "order_fg": order_fg(pred, gt, num_pairs=num_pairs, seed=seed),
        "si_mae": si_mae(pred, gt),
        "si_mse": si_mse(pred, gt),
    }


def mean_metrics(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over images, ignoring NaN (NaN when every image is NaN)."""
    out: dict[str, float] = {}
    for name in METRIC_NAMES:
        vals = np.array([m[name] for m in per_image if name in m], dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        out[name] = float(finite.mean()) if finite.size else float("nan")
    return out
