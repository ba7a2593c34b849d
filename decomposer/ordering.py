"""Ordering: every region gets the median of the predicted layer index over its pixels.

Medians are computed for all groups at once with a two-level (8 + 8 bit) histogram of the index
map quantised to 16 bits over its own range, so the cost is a few passes over the pixels whatever
the number of regions. The result is exact for the quantised values: the error against the
float median is at most (max - min) / 131070 of the index map's range.
"""

from __future__ import annotations

import numpy as np

_LEVELS = 65535


def grouped_median(values: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """Median of `values` per group.

    values: float (H, W) or (n,), finite. groups: int (same shape), id in [0, count) or -1 (ignored).
    Returns float64 (count,); NaN for empty groups. Even-sized groups average the two middle values.
    """
    v = np.asarray(values, dtype=np.float32).ravel()
    g = np.asarray(groups).ravel().astype(np.int64) + 1
    if v.shape != g.shape:
        raise ValueError(f"values {values.shape} and groups {groups.shape} differ in shape")
    out = np.full(count, np.nan)
    if count == 0 or v.size == 0:
        return out
    valid = g > 0
    if not valid.any():
        return out
    vmin = float(v[valid].min())
    vmax = float(v[valid].max())
    span = vmax - vmin
    if span <= 0 or not np.isfinite(span):
        sizes = np.bincount(g, minlength=count + 1)[1:]
        out[sizes > 0] = vmin
        return out
    q = np.rint((v - np.float32(vmin)) * np.float32(_LEVELS / span))
    np.clip(q, 0, _LEVELS, out=q)
    q16 = q.astype(np.uint16)
    del q
    code = g * 256
    code += q16 >> 8  # (group + 1) * 256 + high byte
    size = (count + 1) * 256
    hist = np.bincount(code, minlength=size).reshape(count + 1, 256)[1:]
    sizes = hist.sum(axis=1)
    cum = np.cumsum(hist, axis=1)
    rows = np.arange(count)
    ranks = ((sizes - 1) // 2, sizes // 2)
    high_bins = [np.argmax(cum > rank[:, None], axis=1) for rank in ranks]
    wanted = np.zeros(size, bool)
    for high in high_bins:
        wanted[(rows + 1) * 256 + high] = True
    sel = wanted[code]
    code_sel = code[sel]
    low_sel = (q16[sel] & 255).astype(np.int64)
    del code, sel
    result = np.zeros((2, count))
    for k, (rank, high) in enumerate(zip(ranks, high_bins, strict=True)):
        below = cum[rows, high] - hist[rows, high]
        target = np.append(-1, (rows + 1) * 256 + high)  # per group id shifted by one
        mine = code_sel == target[code_sel >> 8]
        sub = np.bincount((code_sel[mine] >> 8) * 256 + low_sel[mine], minlength=size)
        sub_cum = np.cumsum(sub.reshape(count + 1, 256)[1:], axis=1)
        low = np.argmax(sub_cum > (rank - below)[:, None], axis=1)
        result[k] = (high * 256 + low) * (span / _LEVELS) + vmin
    filled = sizes > 0
    out[filled] = 0.5 * (result[0][filled] + result[1][filled])
    return out


def region_index_medians(index_map: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Median predicted index of each region: float64 (count,). index_map float32 (H, W)."""
    return grouped_median(index_map, labels, count)
