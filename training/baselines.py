"""Heuristic baselines for ``decompose-eval --baseline``: every learned number gets an anchor.

Each baseline maps an RGB uint8 (H, W, 3) image to a float32 (H, W) layer-index map, higher =
nearer the front, so it is scored by exactly the same metrics as the network.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from decomposer.regions import segment_regions

Baseline = Callable[[np.ndarray], np.ndarray]


def _check(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"baseline input must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}"
        )
    return image


def constant_baseline(image: np.ndarray) -> np.ndarray:
    """Every pixel on one layer: zeros float32 (H, W) (lenient Order 1.0, strict Order 0.0)."""
    return np.zeros(_check(image).shape[:2], dtype=np.float32)


def luminance_baseline(image: np.ndarray) -> np.ndarray:
    """Darker = nearer the front ("white is at the back"): 1 − Rec.601 luma/255, float32 in [0, 1]."""
    rgb = _check(image).astype(np.float32) / 255.0
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return (1.0 - luma).astype(np.float32)


def area_baseline(image: np.ndarray) -> np.ndarray:
    """Flat-colour regions (``decomposer.regions``) ordered largest-first = back.

    Returns float32 (H, W): the region's rank by decreasing area (largest 0, next 1, …; equal areas
    keep the segmenter's region order).
    """
    rgb = _check(image)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    regions = segment_regions(rgba)
    order = np.argsort(-regions.areas, kind="stable")
    rank = np.empty(regions.count, dtype=np.float32)
    rank[order] = np.arange(regions.count, dtype=np.float32)
    return rank[regions.labels]


BASELINES: dict[str, Baseline] = {
    "constant": constant_baseline,
    "luminance": luminance_baseline,
    "area": area_baseline,
}
