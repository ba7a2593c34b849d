"""Features of regions and of related region pairs, the inputs of the learned orderer.

Computed from the image's regions (`decomposer.regions`) and their graph
(`decomposer.region_graph`); the same code makes the training data (`training.orderer_fit`) and
runs in the pipeline, so a model and its features never drift apart (`FEATURE_VERSION`).

* Unary features (`UNARY_FEATURES`, one row per region): size, shape, image-border contact,
  surround depth, colour, position, and ranks among the image's regions.
* Pairs: every 4-adjacent pair and every (outer, inner) surround pair; each pair gets one feature
  row per orientation (a, b) and (b, a) (`PAIR_FEATURES`: a's and b's unary features, then their
  relation: shared boundary shares, surround flags, box inclusion, colour and size differences,
  and how much of a small disk around the shared boundary each side owns — the piece in front is
  usually the convex side, so it owns less).
* Optional network feature (`NET_UNARY`, `NET_PAIR`): each region's median of a layer-index map,
  as a rank among the regions in [0, 1] and as a median/MAD z-score, and the pair's difference.

Every feature is a float32; scale-free (fractions, logs of ratios, ranks) so that images of any
size share one model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from decomposer.region_graph import RegionGraph, build_region_graph
from decomposer.regions import Regions, rgb_to_lab

FEATURE_VERSION = 1

UNARY_FEATURES: tuple[str, ...] = (
    "log_area",
    "area_rank",
    "is_largest",
    "border_share",
    "border_cover",
    "bbox_frac",
    "extent",
    "filled_ratio",
    "log_filled",
    "depth",
    "depth_norm",
    "log_neighbours",
    "thickness",
    "mean_width",
    "compactness",
    "centre_dist",
    "cy",
    "cx",
    "lab_l",
    "lab_a",
    "lab_b",
    "chroma",
    "luma_rank",
    "max_attach",
    "log_regions",
    "max_depth",
)
NET_UNARY: tuple[str, ...] = ("net_rank", "net_z")

_RELATION: tuple[str, ...] = (
    "adjacent",
    "shared_a",
    "shared_b",
    "a_surrounds_b",
    "b_surrounds_a",
    "a_parent_of_b",
    "b_parent_of_a",
    "depth_diff",
    "box_b_in_a",
    "box_a_in_b",
    "log_area_ratio",
    "delta_e",
    "delta_l",
    "border_diff",
    "log_thick_ratio",
    "centroid_dist",
    "disk_a",
    "disk_b",
)
_NET_RELATION: tuple[str, ...] = ("net_diff",)

PAIR_FEATURES: tuple[str, ...] = (
    tuple(f"a_{n}" for n in UNARY_FEATURES) + tuple(f"b_{n}" for n in UNARY_FEATURES) + _RELATION
)
NET_PAIR: tuple[str, ...] = (
    tuple(f"a_{n}" for n in NET_UNARY) + tuple(f"b_{n}" for n in NET_UNARY) + _NET_RELATION
)

DISK_RADIUS = 4  # px, around each shared-boundary pixel edge
MAX_DISK_EDGES = 20_000  # boundary pixel edges sampled for the disk shares (strided)


@dataclass(frozen=True)
class OrdererInputs:
    """Everything the orderer needs for one image.

    graph: the region graph. unary: float32 (R, U) (`unary_names`). pairs: int64 (P, 2) related
    pairs (a < b). pair_ab / pair_ba: float32 (P, F) features of the orientations (a, b) and
    (b, a) (`pair_names`). shared: int64 (P,) shared boundary length (0 for surround-only pairs).
    """

    graph: RegionGraph
    unary: np.ndarray
    pairs: np.ndarray
    pair_ab: np.ndarray
    pair_ba: np.ndarray
    shared: np.ndarray
    unary_names: tuple[str, ...]
    pair_names: tuple[str, ...]


def feature_names(use_net: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(unary names, pair names) of the features with or without the network feature."""
    if use_net:
        return UNARY_FEATURES + NET_UNARY, PAIR_FEATURES + NET_PAIR
    return UNARY_FEATURES, PAIR_FEATURES


def orderer_inputs(
    regions: Regions,
    *,
    graph: RegionGraph | None = None,
    net_index: np.ndarray | None = None,
) -> OrdererInputs:
    """Features of `regions` (and of the network's index map, float (H, W), when given)."""
    labels = regions.labels
    if graph is None:
        graph = build_region_graph(labels, regions.count)
    unary = _unary(graph, regions)
    unary_names = UNARY_FEATURES
    net_unary = None
    if net_index is not None:
        net_unary = _net_unary(net_index, labels, regions.count)
        unary = np.concatenate([unary, net_unary], axis=1)
        unary_names = unary_names + NET_UNARY
    pairs, shared = related_pairs(graph)
    disk_lo, disk_hi = _disk_shares(labels, pairs)
    rel_ab = _relation(graph, regions, unary, pairs[:, 0], pairs[:, 1], shared, disk_lo, disk_hi)
    rel_ba = _relation(graph, regions, unary, pairs[:, 1], pairs[:, 0], shared, disk_hi, disk_lo)
    base = unary[:, : len(UNARY_FEATURES)]
    parts_ab = [base[pairs[:, 0]], base[pairs[:, 1]], rel_ab]
    parts_ba = [base[pairs[:, 1]], base[pairs[:, 0]], rel_ba]
    pair_names = PAIR_FEATURES
    if net_unary is not None:
        na, nb = net_unary[pairs[:, 0]], net_unary[pairs[:, 1]]
        parts_ab += [na, nb, (na[:, :1] - nb[:, :1])]
        parts_ba += [nb, na, (nb[:, :1] - na[:, :1])]
        pair_names = pair_names + NET_PAIR
    return OrdererInputs(
        graph=graph,
        unary=unary.astype(np.float32),
        pairs=pairs,
        pair_ab=np.concatenate(parts_ab, axis=1).astype(np.float32),
        pair_ba=np.concatenate(parts_ba, axis=1).astype(np.float32),
        shared=shared,
        unary_names=unary_names,
        pair_names=pair_names,
    )


def related_pairs(graph: RegionGraph) -> tuple[np.ndarray, np.ndarray]:
    """(pairs int64 (P, 2) a < b, shared int64 (P,)): adjacent pairs, then surround-only pairs."""
    count = max(graph.count, 1)
    adjacent = graph.edges
    surround = graph.surround_pairs()
    lo = np.minimum(surround[:, 0], surround[:, 1])
    hi = np.maximum(surround[:, 0], surround[:, 1])
    codes_adj = adjacent[:, 0] * count + adjacent[:, 1]
    codes_sur = np.setdiff1d(lo * count + hi, codes_adj)
    extra = np.stack(np.divmod(codes_sur, count), axis=1).astype(np.int64).reshape(-1, 2)
    pairs = np.concatenate([adjacent.reshape(-1, 2), extra])
    shared = np.concatenate([graph.shared, np.zeros(len(extra), np.int64)])
    return pairs, shared


def _unary(graph: RegionGraph, regions: Regions) -> np.ndarray:
    r = graph.count
    h, w = graph.shape
    n_pixels = float(h * w)
    areas = graph.areas.astype(np.float64)
    perim = np.maximum(graph.perimeter.astype(np.float64), 1.0)
    order = np.argsort(-areas, kind="stable")
    area_rank = np.empty(r)
    area_rank[order] = np.arange(r)
    denom = max(r - 1, 1)
    box_h = (graph.bbox[:, 2] - graph.bbox[:, 0]).astype(np.float64)
    box_w = (graph.bbox[:, 3] - graph.bbox[:, 1]).astype(np.float64)
    box_area = np.maximum(box_h * box_w, 1.0)
    lab = rgb_to_lab(regions.median_rgb) if r else np.zeros((0, 3))
    luma_order = np.argsort(lab[:, 0], kind="stable")
    luma_rank = np.empty(r)
    luma_rank[luma_order] = np.arange(r)
    neighbours = graph.neighbour_counts()
    max_attach = np.zeros(r)
    if len(graph.edges):
        share_a = graph.shared / perim[graph.edges[:, 0]]
        share_b = graph.shared / perim[graph.edges[:, 1]]
        np.maximum.at(max_attach, graph.edges[:, 0], share_a)
        np.maximum.at(max_attach, graph.edges[:, 1], share_b)
    cy = graph.centroid[:, 0] / max(h, 1)
    cx = graph.centroid[:, 1] / max(w, 1)
    side = np.sqrt(n_pixels)
    max_depth = float(graph.depth.max(initial=0))
    cols = {
        "log_area": np.log(np.maximum(areas, 1.0) / n_pixels),
        "area_rank": area_rank / denom,
        "is_largest": (area_rank == 0).astype(np.float64),
        "border_share": graph.border / perim,
        "border_cover": graph.border / max(2.0 * (h + w), 1.0),
        "bbox_frac": box_area / n_pixels,
        "extent": areas / box_area,
        "filled_ratio": areas / np.maximum(graph.filled_area, 1),
        "log_filled": np.log(np.maximum(graph.filled_area, 1) / n_pixels),
        "depth": graph.depth.astype(np.float64),
        "depth_norm": graph.depth / max(max_depth, 1.0),
        "log_neighbours": np.log1p(neighbours),
        "thickness": graph.thickness / side,
        "mean_width": 2.0 * areas / perim / side,
        "compactness": 4.0 * np.pi * areas / perim**2,
        "centre_dist": np.hypot(cy - 0.5, cx - 0.5) / np.sqrt(0.5),
        "cy": cy,
        "cx": cx,
        "lab_l": lab[:, 0] / 100.0,
        "lab_a": lab[:, 1] / 100.0,
        "lab_b": lab[:, 2] / 100.0,
        "chroma": np.hypot(lab[:, 1], lab[:, 2]) / 100.0,
        "luma_rank": luma_rank / denom,
        "max_attach": max_attach,
        "log_regions": np.full(r, np.log(max(r, 1))),
        "max_depth": np.full(r, max_depth),
    }
    return np.stack([cols[name] for name in UNARY_FEATURES], axis=1).reshape(r, -1)


def _net_unary(net_index: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """(R, 2): rank in [0, 1] and median/MAD z-score of each region's median network index."""
    from decomposer.ordering import grouped_median

    values = np.asarray(net_index, dtype=np.float32)
    if values.shape != labels.shape:
        raise ValueError(f"index map {values.shape} does not match the regions {labels.shape}")
    med = grouped_median(values, labels, count)
    med = np.where(np.isfinite(med), med, np.nanmedian(med) if count else 0.0)
    order = np.argsort(med, kind="stable")
    rank = np.empty(count)
    rank[order] = np.arange(count)
    centre = np.median(med) if count else 0.0
    scale = max(float(np.mean(np.abs(med - centre))) if count else 0.0, 1e-6)
    return np.stack([rank / max(count - 1, 1), (med - centre) / scale], axis=1).reshape(count, 2)


def _relation(
    graph: RegionGraph,
    regions: Regions,
    unary: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    shared: np.ndarray,
    disk_a: np.ndarray,
    disk_b: np.ndarray,
) -> np.ndarray:
    """float64 (P, len(_RELATION)) relation features of the orientation (a, b)."""
    h, w = graph.shape
    perim = np.maximum(graph.perimeter.astype(np.float64), 1.0)
    box = graph.bbox.astype(np.float64)
    inter_h = np.clip(np.minimum(box[a, 2], box[b, 2]) - np.maximum(box[a, 0], box[b, 0]), 0, None)
    inter_w = np.clip(np.minimum(box[a, 3], box[b, 3]) - np.maximum(box[a, 1], box[b, 1]), 0, None)
    inter = inter_h * inter_w
    box_area = np.maximum((box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]), 1.0)
    lab = rgb_to_lab(regions.median_rgb) if graph.count else np.zeros((0, 3))
    areas = np.maximum(graph.areas.astype(np.float64), 1.0)
    border_share = graph.border / perim
    diag = float(np.hypot(h, w)) or 1.0
    cols = {
        "adjacent": (shared > 0).astype(np.float64),
        "shared_a": shared / perim[a],
        "shared_b": shared / perim[b],
        "a_surrounds_b": graph.surrounds(a, b).astype(np.float64),
        "b_surrounds_a": graph.surrounds(b, a).astype(np.float64),
        "a_parent_of_b": (graph.parent[b] == a).astype(np.float64),
        "b_parent_of_a": (graph.parent[a] == b).astype(np.float64),
        "depth_diff": (graph.depth[a] - graph.depth[b]).astype(np.float64),
        "box_b_in_a": inter / box_area[b],
        "box_a_in_b": inter / box_area[a],
        "log_area_ratio": np.log(areas[a] / areas[b]),
        "delta_e": np.linalg.norm(lab[a] - lab[b], axis=1) / 100.0,
        "delta_l": (lab[a, 0] - lab[b, 0]) / 100.0,
        "border_diff": border_share[a] - border_share[b],
        "log_thick_ratio": np.log(graph.thickness[a] / graph.thickness[b]),
        "centroid_dist": np.linalg.norm(graph.centroid[a] - graph.centroid[b], axis=1) / diag,
        "disk_a": disk_a,
        "disk_b": disk_b,
    }
    return np.stack([cols[name] for name in _RELATION], axis=1).reshape(len(a), -1)


def _disk_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    keep = dy**2 + dx**2 <= radius**2
    return dy[keep].ravel(), dx[keep].ravel()


def _disk_shares(labels: np.ndarray, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (lo, hi): the mean share of a disk (radius DISK_RADIUS) around their shared
    boundary owned by lo and by hi; (NaN, NaN) for pairs that do not touch."""
    h, w = labels.shape
    count = int(labels.max()) + 1 if labels.size else 0
    n_pairs = len(pairs)
    out_lo = np.full(n_pairs, np.nan)
    out_hi = np.full(n_pairs, np.nan)
    if n_pairs == 0 or count == 0:
        return out_lo, out_hi
    ys_list, xs_list = [], []
    for axis in (0, 1):
        a = labels[:, :-1] if axis else labels[:-1]
        b = labels[:, 1:] if axis else labels[1:]
        diff = (a != b) & (a >= 0) & (b >= 0)
        ys, xs = np.nonzero(diff)
        ys_list.append(ys + (0.0 if axis else 0.5))
        xs_list.append(xs + (0.5 if axis else 0.0))
    ys = np.concatenate(ys_list)
    xs = np.concatenate(xs_list)
    if ys.size == 0:
        return out_lo, out_hi
    step = max(1, -(-ys.size // MAX_DISK_EDGES))
    ys, xs = ys[::step], xs[::step]
    # the two pixels on either side of each edge
    y0 = np.floor(ys).astype(np.int64)
    x0 = np.floor(xs).astype(np.int64)
    y1 = np.ceil(ys).astype(np.int64)
    x1 = np.ceil(xs).astype(np.int64)
    la, lb = labels[y0, x0].astype(np.int64), labels[y1, x1].astype(np.int64)
    lo, hi = np.minimum(la, lb), np.maximum(la, lb)
    code = lo * count + hi
    pair_codes = pairs[:, 0] * count + pairs[:, 1]
    sorter = np.argsort(pair_codes)
    pos = np.searchsorted(pair_codes, code, sorter=sorter)
    pos = np.clip(pos, 0, n_pairs - 1)
    pair_of_edge = sorter[pos]
    valid = pair_codes[pair_of_edge] == code
    cy = np.rint(ys).astype(np.int64)
    cx = np.rint(xs).astype(np.int64)
    own_lo = np.zeros(ys.size)
    own_hi = np.zeros(ys.size)
    total = np.zeros(ys.size)
    for oy, ox in zip(*_disk_offsets(DISK_RADIUS), strict=True):
        yy, xx = cy + oy, cx + ox
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        lab = np.full(ys.size, -2, np.int64)
        lab[inside] = labels[yy[inside], xx[inside]]
        own_lo += lab == lo
        own_hi += lab == hi
        total += inside
    total = np.maximum(total, 1.0)
    idx = pair_of_edge[valid]
    n = np.bincount(idx, minlength=n_pairs).astype(np.float64)
    s_lo = np.bincount(idx, weights=(own_lo / total)[valid], minlength=n_pairs)
    s_hi = np.bincount(idx, weights=(own_hi / total)[valid], minlength=n_pairs)
    has = n > 0
    out_lo[has] = s_lo[has] / n[has]
    out_hi[has] = s_hi[has] / n[has]
    return out_lo, out_hi
