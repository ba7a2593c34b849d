"""The one compositor: normal ("over") blending of straight-alpha uint8 layers, exact on uint8.

Exactness guarantees (what the decomposition relies on), per pixel:
- a fully transparent layer pixel (alpha 0) leaves the canvas unchanged;
- a fully opaque layer pixel (alpha 255) replaces the canvas pixel with itself;
- a layer pixel over a fully transparent canvas pixel is copied as is (colour and alpha).
Other cases use integer arithmetic at scale 255^2 with round-half-up:
    A = a_t*255 + a_b*(255 - a_t);  C = c_t*a_t*255 + c_b*a_b*(255 - a_t)
    alpha = round(A / 255);  colour = round(C / A)  (0 where A == 0).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from decomposer.types import Layer


def composite_layers(layers: Iterable[Layer], canvas_size: tuple[int, int]) -> np.ndarray:
    """Blend `layers` (bottom -> top) onto a transparent canvas of (width, height).

    Returns uint8 (H, W, 4), straight alpha. Layer parts outside the canvas are clipped.
    """
    width, height = canvas_size
    canvas = np.zeros((height, width, 4), np.uint8)
    for layer in layers:
        blend_over(canvas, layer.rgba, layer.offset)
    return canvas


def blend_over(canvas: np.ndarray, rgba: np.ndarray, offset: tuple[int, int]) -> None:
    """Blend `rgba` (uint8 (h, w, 4)) over `canvas` (uint8 (H, W, 4)) in place at offset (x, y)."""
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"layer pixels must be uint8 (h, w, 4), got {rgba.dtype} {rgba.shape}")
    x, y = offset
    h, w = rgba.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    top = rgba[y0 - y : y1 - y, x0 - x : x1 - x]
    dst = canvas[y0:y1, x0:x1]
    at = top[..., 3]
    opaque = at == 255
    # copy opaque pixels as whole 32-bit words (one RGBA pixel each) when the layouts allow it
    if canvas.flags.c_contiguous and rgba.flags.c_contiguous:
        words = canvas.view(np.uint32)[y0:y1, x0:x1, 0]
        np.copyto(words, rgba.view(np.uint32)[y0 - y : y1 - y, x0 - x : x1 - x, 0], where=opaque)
    else:
        np.copyto(dst, top, where=opaque[..., None])
    partial = (at != 0) & ~opaque
    if not partial.any():
        return
    rows, cols = np.nonzero(partial)
    t = top[rows, cols].astype(np.int64)
    b = dst[rows, cols].astype(np.int64)
    a_t, a_b = t[:, 3], b[:, 3]
    big_a = a_t * 255 + a_b * (255 - a_t)
    big_c = t[:, :3] * (a_t * 255)[:, None] + b[:, :3] * (a_b * (255 - a_t))[:, None]
    out = np.empty_like(t)
    out[:, 3] = (big_a + 127) // 255
    safe = np.maximum(big_a, 1)[:, None]
    out[:, :3] = np.where(big_a[:, None] > 0, (2 * big_c + safe) // (2 * safe), 0)
    dst[rows, cols] = out.astype(np.uint8)
