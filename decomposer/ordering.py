"""Ordering: every region gets a score, higher = nearer the front (`ORDERINGS`).

A small registry: each entry names one way of putting the flat-colour regions in depth order
and says whether it needs the network's layer-index map (so the pipeline loads and runs the
network only when the chosen ordering uses it).

* "graph" (the default): the learned occlusion orderer on the region graph
  (`decomposer.orderer`); it needs the index map only when the orderer was trained with the
  network's feature (`Orderer.uses_net`).
* "median": the paper's rule, each region gets the median of the network's index over its pixels.

Medians are computed for all groups at once with a two-level (8 + 8 bit) histogram of the index
map quantised to 16 bits over its own range, so the cost is a few passes over the pixels whatever
the number of regions. The result is exact for the quantised values: the error against the
float median is at most (max - min) / 131070 of the index map's range. Medians over unions of
regions (the layers) reuse the same quantisation and histograms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from decomposer.orderer import Orderer
    from decomposer.regions import Regions

_LEVELS = 65535


@dataclass(frozen=True)
class Ordering:
    """One way of ordering regions.

    name: the `DecomposeOptions.ordering` value. summary: one line for help texts.
    needs_index(orderer): does it need the network's index map (orderer: the graph orderer to
        use, None = the shipped one)?
    scores(regions, index_map, orderer): float64 (R,) per-region score, higher = front;
        index_map is float32 (H, W) or None (only when needs_index is False).
    own_index: the decomposition's index map is the scores on the regions' pixels (True), or
        the network's map the scores were taken from (False).
    model_id(orderer): identifies the trained model it uses besides the network (part of
        batch resume keys, so a retrained orderer redoes the files), None if it uses none.
    """

    name: str
    summary: str
    needs_index: Callable[[Orderer | None], bool]
    scores: Callable[[Regions, np.ndarray | None, Orderer | None], np.ndarray]
    own_index: bool
    model_id: Callable[[Orderer | None], str | None] = lambda orderer: None


def _median_scores(regions: Regions, index_map: np.ndarray | None, orderer: Any) -> np.ndarray:
    if index_map is None:
        raise ValueError("the median ordering needs the network's index map")
    return GroupedMedians(index_map, regions.labels, regions.count).medians()


def _graph_orderer(orderer: Orderer | None) -> Orderer:
    from decomposer.orderer import load_orderer

    return orderer if orderer is not None else load_orderer()


def _graph_scores(
    regions: Regions, index_map: np.ndarray | None, orderer: Orderer | None
) -> np.ndarray:
    from decomposer.orderer_features import orderer_inputs

    model = _graph_orderer(orderer)
    if model.uses_net and index_map is None:
        raise ValueError("this orderer uses the network's index map, and none was given")
    net_index = index_map if model.uses_net else None
    return model.order(orderer_inputs(regions, net_index=net_index))


ORDERINGS: dict[str, Ordering] = {
    "graph": Ordering(
        "graph",
        "learned occlusion orderer on the region graph (containment, shared boundaries, "
        "border contact, shape, colour); the shipped one runs without the network",
        lambda orderer: _graph_orderer(orderer).uses_net,
        _graph_scores,
        own_index=True,
        model_id=lambda orderer: _graph_orderer(orderer).fingerprint,
    ),
    "median": Ordering(
        "median",
        "the paper's rule: each region takes the median of the network's layer index",
        lambda orderer: True,
        _median_scores,
        own_index=False,
    ),
}
"""Ways regions are put in depth order, by `DecomposeOptions.ordering` name."""

DEFAULT_ORDERING = "graph"


class GroupedMedians:
    """Medians of one value map over a labelling, and over unions of its labels.

    values: float (H, W) or (n,), finite. groups: int (same shape), id in [0, count) or -1 (ignored).
    """

    def __init__(self, values: np.ndarray, groups: np.ndarray, count: int) -> None:
        v = np.asarray(values, dtype=np.float32).ravel()
        g = np.asarray(groups).ravel()
        if v.shape != g.shape:
            raise ValueError(f"values {np.shape(values)} and groups {np.shape(groups)} differ")
        self.count = int(count)
        code = g.astype(np.int64)
        code += 1  # group id + 1; 0 = ignored
        valid = code > 0
        self.vmin = float(v[valid].min()) if valid.any() else 0.0
        self.span = float(v[valid].max()) - self.vmin if valid.any() else 0.0
        if self.span > 0 and np.isfinite(self.span):
            q = (v - np.float32(self.vmin)) * np.float32(_LEVELS / self.span)
            np.rint(q, out=q)
            np.clip(q, 0, _LEVELS, out=q)
            self.q = q.astype(np.uint16)
            del q
        else:
            self.span = 0.0
            self.q = np.zeros(v.shape, np.uint16)
        code *= 256
        code += self.q >> 8  # (group + 1) * 256 + high byte of the quantised value
        self.code = code
        size = (self.count + 1) * 256
        self.hist = np.bincount(code, minlength=size).reshape(self.count + 1, 256)[1:]

    def medians(self) -> np.ndarray:
        """float64 (count,) median per group; NaN for empty groups."""
        return self.union_medians(np.arange(self.count), self.count)

    def union_medians(self, union_of: np.ndarray, n_unions: int) -> np.ndarray:
        """float64 (n_unions,) median over the pixels of the groups g with union_of[g] == u."""
        union_of = np.asarray(union_of, dtype=np.int64)
        out = np.full(n_unions, np.nan)
        hist = np.zeros((n_unions, 256), np.int64)
        np.add.at(hist, union_of, self.hist)
        sizes = hist.sum(axis=1)
        filled = sizes > 0
        if not filled.any():
            return out
        if self.span == 0.0:
            out[filled] = self.vmin
            return out
        cum = np.cumsum(hist, axis=1)
        unions = np.arange(n_unions)
        ranks = ((sizes - 1) // 2, sizes // 2)
        high_bins = [np.argmax(cum > rank[:, None], axis=1) for rank in ranks]
        wanted = np.zeros((self.count + 1) * 256, bool)
        groups = np.arange(self.count)
        for high in high_bins:
            wanted[(groups + 1) * 256 + high[union_of]] = True
        sel = wanted[self.code]
        code_sel = self.code[sel]
        low_sel = (self.q[sel] & 255).astype(np.int64)
        del sel
        union_sel = union_of[(code_sel >> 8) - 1]
        high_sel = code_sel & 255
        result = np.zeros((2, n_unions))
        for k, (rank, high) in enumerate(zip(ranks, high_bins, strict=True)):
            below = cum[unions, high] - hist[unions, high]
            mine = high_sel == high[union_sel]
            sub = np.bincount(union_sel[mine] * 256 + low_sel[mine], minlength=n_unions * 256)
            sub_cum = np.cumsum(sub.reshape(n_unions, 256), axis=1)
            low = np.argmax(sub_cum > (rank - below)[:, None], axis=1)
            result[k] = (high * 256 + low) * (self.span / _LEVELS) + self.vmin
        out[filled] = 0.5 * (result[0][filled] + result[1][filled])
        return out


def grouped_median(values: np.ndarray, groups: np.ndarray, count: int) -> np.ndarray:
    """Median of `values` per group: float64 (count,), NaN for empty groups (see GroupedMedians)."""
    return GroupedMedians(values, groups, count).medians()


def weighted_union_medians(
    scores: np.ndarray, areas: np.ndarray, union_of: np.ndarray, n_unions: int
) -> np.ndarray:
    """float64 (n_unions,): the pixel median over the regions r with union_of[r] == u when every
    pixel of region r holds scores[r] (region areas in pixels), exactly: the mean of the lower
    and upper median, as `GroupedMedians.union_medians` gives on the broadcast map (without its
    quantisation). NaN for unions without pixels.

    scores: float (R,); areas: int (R,) >= 0; union_of: int (R,) in [0, n_unions).
    """
    scores = np.asarray(scores, dtype=np.float64)
    areas = np.asarray(areas, dtype=np.int64)
    union_of = np.asarray(union_of, dtype=np.int64)
    out = np.full(n_unions, np.nan)
    keep = areas > 0
    if not keep.any():
        return out
    s, a, u = scores[keep], areas[keep], union_of[keep]
    order = np.lexsort((s, u))  # by union, then score
    s, a, u = s[order], a[order], u[order]
    cum = np.cumsum(a)
    sizes = np.bincount(u, weights=a, minlength=n_unions).astype(np.int64)
    before = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # pixels of the earlier unions
    filled = np.flatnonzero(sizes > 0)
    lo = np.searchsorted(cum, before[filled] + (sizes[filled] - 1) // 2, side="right")
    hi = np.searchsorted(cum, before[filled] + sizes[filled] // 2, side="right")
    out[filled] = 0.5 * (s[lo] + s[hi])
    return out
