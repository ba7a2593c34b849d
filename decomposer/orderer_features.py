"""Features of regions and of related region pairs, the inputs of the learned orderer.

Computed from the image's regions (`decomposer.regions`) and their graph
(`decomposer.region_graph`); the same code makes the training data (`training.orderer_fit`) and
runs in the pipeline, so a model and its features never drift apart (`FEATURE_VERSION`).

* Unary features (`UNARY_FEATURES`, one row per region): size, shape, image-border contact,
  surround depth, colour, position, and ranks among the image's regions.
* Pairs: every 4-adjacent pair and every (outer, inner) surround pair ("related" pairs), plus
  context pairs that touch nowhere: all other pairs in images of at most `ALL_PAIRS_UP_TO`
  regions, else each region with its `CONTEXT_NEIGHBOURS` nearest regions (by centroid). Each
  pair gets one feature row per orientation (a, b) and (b, a) (`PAIR_FEATURES`: a's and b's unary features, then their
  relation: shared boundary shares, surround flags, box inclusion, colour and size differences,
  and how much of a small disk around the shared boundary each side owns — the piece in front is
  usually the convex side, so it owns less).
* Optional network feature (`NET_UNARY`, `NET_PAIR`): each region's median of a layer-index map,
  as a rank among the regions in [0, 1] and as a median/MAD z-score, and the pair's difference.

Every feature is a float32; scale-free (fractions, logs of ratios, ranks) so that images of any
size share one model. Counts (areas, boundaries, boxes, surround) are exact at full resolution;
the pixel-scale measurements (thickness, convex-hull cover and solidity, the disk shares) are
taken on the working map (`decomposer.region_graph.working_labels`: long side <= 512 px, the
training images' size), so their cost is bounded and their disks cover the same share of the
drawing at any input size; up to 512 px the working map is the label map itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from decomposer.region_graph import RegionGraph, build_region_graph, working_labels
from decomposer.regions import Regions, rgb_to_lab

FEATURE_VERSION = 3

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
    "solidity",
)
NET_UNARY: tuple[str, ...] = ("net_rank", "net_z")

_RELATION: tuple[str, ...] = (
    "related",
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
    "wide_disk_a",
    "wide_disk_b",
    "hull_a_covers_b",
    "hull_b_covers_a",
    "same_parent",
)
_NET_RELATION: tuple[str, ...] = ("net_diff",)

PAIR_FEATURES: tuple[str, ...] = (
    tuple(f"a_{n}" for n in UNARY_FEATURES) + tuple(f"b_{n}" for n in UNARY_FEATURES) + _RELATION
)
NET_PAIR: tuple[str, ...] = (
    tuple(f"a_{n}" for n in NET_UNARY) + tuple(f"b_{n}" for n in NET_UNARY) + _NET_RELATION
)

DISK_RADIUS = 4  # px, around each shared-boundary pixel edge
WIDE_DISK_RADIUS = 12  # px, sampled every 3 px
MAX_DISK_EDGES = 20_000  # boundary pixel edges sampled for the disk shares (strided)
MAX_WIDE_DISK_EDGES = 6_000
ALL_PAIRS_UP_TO = 32  # regions; above, context pairs are nearest neighbours
CONTEXT_NEIGHBOURS = 8


@dataclass(frozen=True)
class OrdererInputs:
    """Everything the orderer needs for one image.

    graph: the region graph. unary: float32 (R, U) (`unary_names`). pairs: int64 (P, 2) related
    pairs (a < b). pair_ab / pair_ba: float32 (P, F) features of the orientations (a, b) and
    (b, a) (`pair_names`). shared: int64 (P,) shared boundary length (0 for surround-only pairs).
    related: bool (P,) adjacent or surround pair (False: a context pair).
    """

    graph: RegionGraph
    unary: np.ndarray
    pairs: np.ndarray
    pair_ab: np.ndarray
    pair_ba: np.ndarray
    shared: np.ndarray
    unary_names: tuple[str, ...]
    pair_names: tuple[str, ...]
    related: np.ndarray | None = None


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
    pairs, shared, related = ordered_pairs(graph)
    work, _ = working_labels(labels)
    hull = _hull_cover(work, graph.count, pairs)
    unary = _unary(graph, regions, hull.solidity)
    unary_names = UNARY_FEATURES
    net_unary = None
    if net_index is not None:
        net_unary = _net_unary(net_index, labels, regions.count)
        unary = np.concatenate([unary, net_unary], axis=1)
        unary_names = unary_names + NET_UNARY
    count = graph.count
    disk_lo, disk_hi = _disk_shares(work, count, pairs, _disk_offsets(DISK_RADIUS), MAX_DISK_EDGES)
    wide_lo, wide_hi = _disk_shares(
        work, count, pairs, _disk_offsets(WIDE_DISK_RADIUS, 3), MAX_WIDE_DISK_EDGES
    )
    lo_side = (disk_lo, wide_lo, hull.lo_covers_hi)
    hi_side = (disk_hi, wide_hi, hull.hi_covers_lo)
    rel_ab = _relation(graph, regions, pairs[:, 0], pairs[:, 1], shared, lo_side, hi_side)
    rel_ba = _relation(graph, regions, pairs[:, 1], pairs[:, 0], shared, hi_side, lo_side)
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
        related=related,
    )


def ordered_pairs(graph: RegionGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pairs int64 (P, 2) a < b, shared int64 (P,), related bool (P,)): the related pairs
    (`related_pairs`), then the context pairs (see the module docstring)."""
    pairs, shared = related_pairs(graph)
    count = graph.count
    if count < 2:
        return pairs, shared, np.ones(len(pairs), bool)
    if count <= ALL_PAIRS_UP_TO:
        lo, hi = np.triu_indices(count, 1)
    else:
        from scipy.spatial import cKDTree

        k = min(CONTEXT_NEIGHBOURS + 1, count)
        _, nearest = cKDTree(graph.centroid).query(graph.centroid, k=k)
        a = np.repeat(np.arange(count), k - 1)
        b = nearest[:, 1:].ravel()
        lo, hi = np.minimum(a, b), np.maximum(a, b)
    codes = np.setdiff1d(lo.astype(np.int64) * count + hi, pairs[:, 0] * count + pairs[:, 1])
    extra = np.stack(np.divmod(codes, count), axis=1).astype(np.int64).reshape(-1, 2)
    related = np.concatenate([np.ones(len(pairs), bool), np.zeros(len(extra), bool)])
    return (
        np.concatenate([pairs, extra]),
        np.concatenate([shared, np.zeros(len(extra), np.int64)]),
        related,
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


def _unary(graph: RegionGraph, regions: Regions, solidity: np.ndarray) -> np.ndarray:
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
        "solidity": solidity,
    }
    return np.stack([cols[name] for name in UNARY_FEATURES], axis=1).reshape(r, len(UNARY_FEATURES))


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
    a: np.ndarray,
    b: np.ndarray,
    shared: np.ndarray,
    side_a: tuple[np.ndarray, np.ndarray, np.ndarray],
    side_b: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """float64 (P, len(_RELATION)) relation features of the orientation (a, b).

    side_a / side_b: (disk share, wide disk share, hull cover of the other) of a and of b.
    """
    disk_a, wide_a, hull_a = side_a
    disk_b, wide_b, hull_b = side_b
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
    surround_ab = graph.surrounds(a, b)
    surround_ba = graph.surrounds(b, a)
    cols = {
        "related": ((shared > 0) | surround_ab | surround_ba).astype(np.float64),
        "adjacent": (shared > 0).astype(np.float64),
        "shared_a": shared / perim[a],
        "shared_b": shared / perim[b],
        "a_surrounds_b": surround_ab.astype(np.float64),
        "b_surrounds_a": surround_ba.astype(np.float64),
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
        "wide_disk_a": wide_a,
        "wide_disk_b": wide_b,
        "hull_a_covers_b": hull_a,
        "hull_b_covers_a": hull_b,
        "same_parent": (graph.parent[a] == graph.parent[b]).astype(np.float64),
    }
    return np.stack([cols[name] for name in _RELATION], axis=1).reshape(len(a), len(_RELATION))


def _disk_offsets(radius: int, step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (dy, dx) of a disk of `radius` px on a grid of `step` px."""
    dy, dx = np.mgrid[-radius : radius + 1 : step, -radius : radius + 1 : step]
    keep = dy**2 + dx**2 <= radius**2
    return dy[keep].ravel(), dx[keep].ravel()


def _disk_shares(
    labels: np.ndarray,
    count: int,
    pairs: np.ndarray,
    offsets: tuple[np.ndarray, np.ndarray],
    max_edges: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair (lo, hi): the mean share of a disk (`offsets`) around their shared boundary
    owned by lo and by hi, over at most `max_edges` boundary pixel edges (strided); (NaN, NaN)
    for pairs that do not touch (on this label map: ids in [0, count), -1 = transparent)."""
    h, w = labels.shape
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
    step = max(1, -(-ys.size // max_edges))
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
    for oy, ox in zip(*offsets, strict=True):
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


@dataclass(frozen=True)
class _HullCover:
    """solidity: float64 (R,) area / convex hull area (1 for degenerate hulls).
    lo_covers_hi / hi_covers_lo: float64 (P,) share of the pair's second (first) region's
    pixels inside the convex hull of its first (second) region."""

    solidity: np.ndarray
    lo_covers_hi: np.ndarray
    hi_covers_lo: np.ndarray


def _hull_cover(labels: np.ndarray, r: int, pairs: np.ndarray) -> _HullCover:
    """Convex hulls of the regions (of their boundary pixel centres) rasterised in their boxes,
    on `labels` (ids in [0, r), -1 = transparent; the working map, `working_labels`). Regions
    missing from it get solidity 1 and cover 0."""
    from scipy.spatial import ConvexHull, QhullError

    solidity = np.ones(r)
    lo_hi = np.zeros(len(pairs))
    hi_lo = np.zeros(len(pairs))
    if r == 0:
        return _HullCover(solidity, lo_hi, hi_lo)
    region_areas = np.bincount(labels.ravel() + 1, minlength=r + 1)[1 : r + 1]
    bbox = np.zeros((r, 4), np.int64)
    for region, box in enumerate(ndi.find_objects(labels + 1, max_label=r)):
        if box is not None:
            bbox[region] = (box[0].start, box[1].start, box[0].stop, box[1].stop)
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:, 1:] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1] |= labels[:-1] != labels[1:]
    edge[1:] |= labels[:-1] != labels[1:]
    edge[[0, -1], :] = True
    edge[:, [0, -1]] = True
    ys, xs = np.nonzero(edge & (labels >= 0))
    ids = labels[ys, xs].astype(np.int64)
    order = np.argsort(ids, kind="stable")
    ys, xs, ids = ys[order], xs[order], ids[order]
    starts = np.searchsorted(ids, np.arange(r + 1))
    # pairs by region, with the position of the region in the pair (0 = lo, 1 = hi)
    by_region: list[list[tuple[int, int, int]]] = [[] for _ in range(r)]
    for k, (lo, hi) in enumerate(pairs.tolist()):
        by_region[lo].append((k, hi, 0))
        by_region[hi].append((k, lo, 1))
    areas = np.maximum(region_areas.astype(np.float64), 1.0)
    for region in range(r):
        py, px = ys[starts[region] : starts[region + 1]], xs[starts[region] : starts[region + 1]]
        if py.size < 3 or not by_region[region] and region_areas[region] < 16:
            continue
        y0, x0, y1, x1 = bbox[region]
        pts = np.stack([py - y0, px - x0], axis=1).astype(np.float64)
        try:
            hull = ConvexHull(pts)
        except QhullError:  # degenerate (a line): the hull is the region itself
            continue
        vy, vx = pts[hull.vertices, 0], pts[hull.vertices, 1]
        inside = convex_polygon_mask(vy, vx, int(y1 - y0), int(x1 - x0))
        inside[py - y0, px - x0] = True
        crop = labels[y0:y1, x0:x1]
        solidity[region] = min(1.0, region_areas[region] / max(int(inside.sum()), 1))
        if by_region[region]:
            counts = np.bincount(crop[inside & (crop >= 0)], minlength=r)
            for k, other, side in by_region[region]:
                share = counts[other] / areas[other]
                if side == 0:
                    lo_hi[k] = share
                else:
                    hi_lo[k] = share
    return _HullCover(solidity, lo_hi, hi_lo)


def convex_polygon_mask(vy: np.ndarray, vx: np.ndarray, h: int, w: int) -> np.ndarray:
    """bool (h, w): pixels whose centre (row, column) lies in the convex polygon with vertices
    (vy, vx) in order (pixel units, within the canvas), edges included."""
    rows = np.arange(h, dtype=np.float64)[:, None]
    y0, x0 = vy, vx
    y1, x1 = np.roll(vy, -1), np.roll(vx, -1)
    lo, hi = np.minimum(y0, y1), np.maximum(y0, y1)
    on = (rows >= lo - 1e-9) & (rows <= hi + 1e-9)
    dy = np.where(y1 != y0, y1 - y0, 1.0)
    t = np.clip((rows - y0) / dy, 0.0, 1.0)
    x = x0 + t * (x1 - x0)
    flat = (y1 == y0)[None, :] & on  # horizontal edges: both ends
    left = np.where(on, np.where(flat, np.minimum(x0, x1), x), np.inf).min(axis=1)
    right = np.where(on, np.where(flat, np.maximum(x0, x1), x), -np.inf).max(axis=1)
    cols = np.arange(w, dtype=np.float64)[None, :]
    return (cols >= left[:, None] - 1e-6) & (cols <= right[:, None] + 1e-6)
