"""Pyramid window geometry: split an S×S image into overlapping windows and merge token maps.

Level 0 (S px): 5×5 windows of S/4 px at 25 % overlap; level 1 (S/2): 3×3 at 50 %; level 2
(S/4): one window. Batches are window-major (all B images of window 0, then window 1, …), windows
row-major. Merging crops half of the overlap (in tokens) from every inner edge.
"""

from __future__ import annotations

import math

import torch

LEVEL_OVERLAPS = (0.25, 0.5)  # levels 0 and 1; level 2 is a single window


def window_stride(window: int, overlap: float) -> int:
    """Stride (px) between windows for a fractional overlap."""
    return int(window * (1.0 - overlap))


def num_windows(size: int, window: int, overlap: float) -> int:
    """Windows per axis needed to cover ``size`` px."""
    return math.ceil((size - window) / window_stride(window, overlap)) + 1


def split_windows(x: torch.Tensor, window: int, overlap: float) -> torch.Tensor:
    """(B, C, H, H) -> (n*n*B, C, window, window), window-major, row-major order."""
    b, c, h, w = x.shape
    stride = window_stride(window, overlap)
    n = num_windows(h, window, overlap)
    if (n - 1) * stride + window != h or h != w:
        raise ValueError(f"size {h}x{w} is not tiled exactly by {window}-px windows")
    tiles = x.unfold(2, window, stride).unfold(3, window, stride)  # B, C, n, n, win, win
    return tiles.permute(2, 3, 0, 1, 4, 5).reshape(n * n * b, c, window, window)


def merge_windows(maps: torch.Tensor, n: int, batch: int, overlap_tokens: int) -> torch.Tensor:
    """(n*n*B, C, g, g) token maps -> (B, C, G, G), cropping the overlap on inner edges only.

    Window i keeps local tokens [overlap//2, g - ceil(overlap/2)) on inner edges, so
    G = (n - 1) * (g - overlap) + g.
    """
    g = maps.shape[-1]
    lo = overlap_tokens // 2
    hi = g - (overlap_tokens - lo)
    grid = maps.reshape(n, n, batch, *maps.shape[1:])
    rows = []
    for i in range(n):
        top = 0 if i == 0 else lo
        bottom = g if i == n - 1 else hi
        cols = []
        for j in range(n):
            left = 0 if j == 0 else lo
            right = g if j == n - 1 else hi
            cols.append(grid[i, j, :, :, top:bottom, left:right])
        rows.append(torch.cat(cols, dim=-1))
    return torch.cat(rows, dim=-2)
