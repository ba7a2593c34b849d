"""The region graph of a segmentation: who touches whom, how much, and who surrounds whom.

Built once per image from a region label map (`decomposer.regions`); it holds everything about the
regions' layout that the orderer's features need (`decomposer.orderer_features`).

* Adjacency: 4-neighbour pixel pairs with different labels, counted per region pair (the shared
  boundary length, in pixel edges).
* Perimeter: pixel edges between a region and anything else (another region, transparency, the
  outside of the image); border contact: the part of it on the image border.
* Surround tree: region A surrounds region B when B lies in a hole of A, i.e. every 4-connected
  path from B to the outside of the image crosses A (what `binary_fill_holes` of A's mask would
  fill). Regions are 4-connected, so a region lies wholly inside a hole or wholly outside. The
  relation is the dominator tree of the adjacency graph rooted at the outside (connected
  components of transparent pixels are nodes too), computed with Cooper, Harvey and Kennedy's
  iterative algorithm; `parent` is the innermost surrounding region.
* Per region: area, bounding box, centroid, thickness (largest distance from a pixel to the
  region's boundary) and filled area (area with its holes filled).

All pixel work is vectorised; the loops run over regions and graph edges only. Counts (areas,
boundaries, boxes, the surround tree) are exact at full resolution; the one distance transform
(thickness) runs on the working map (`working_labels`: the labels sampled every `factor` pixels
so that the long side is at most `WORK_SIDE`), which is the label map itself up to 512 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

WORK_SIDE = 512  # px, long side of the working map of the pixel-scale features


def working_labels(labels: np.ndarray, side: int = WORK_SIDE) -> tuple[np.ndarray, int]:
    """(work, factor): `labels` (H, W) sampled at the centre of every factor x factor block,
    factor = ceil(max(H, W) / side) >= 1 (work is `labels` itself when factor == 1).

    Regions thinner than `factor` pixels may be missing from `work`; callers give them defaults.
    """
    factor = max(1, -(-max(labels.shape, default=0) // max(int(side), 1)))
    if factor == 1:
        return labels, 1
    half = factor // 2
    return np.ascontiguousarray(labels[half::factor, half::factor]), factor


@dataclass(frozen=True)
class RegionGraph:
    """Layout of R regions on an (H, W) canvas.

    shape: (H, W) in pixels. count: R.
    areas: int64 (R,) pixels. perimeter: int64 (R,) boundary pixel edges (to other regions,
        transparency or the image border). border: int64 (R,) pixel edges on the image border.
    bbox: int64 (R, 4) (y0, x0, y1, x1), end exclusive, pixels. centroid: float64 (R, 2) (y, x).
    thickness: float64 (R,) largest Euclidean distance (px) from a pixel of the region to the
        nearest pixel of another label (the image border does not count as a boundary), >= 1;
        measured on the working map (`working_labels`) and scaled back to full-resolution pixels
        (regions missing from the working map: 1).
    edges: int64 (E, 2) 4-adjacent region pairs, a < b, sorted. shared: int64 (E,) shared
        boundary length in pixel edges (> 0).
    parent: int64 (R,) innermost region whose hole holds the region, -1 if none.
    depth: int64 (R,) number of regions that surround the region (0 = not surrounded).
    filled_area: int64 (R,) area plus the area of its holes (regions and transparent pixels).
    """

    shape: tuple[int, int]
    count: int
    areas: np.ndarray
    perimeter: np.ndarray
    border: np.ndarray
    bbox: np.ndarray
    centroid: np.ndarray
    thickness: np.ndarray
    edges: np.ndarray
    shared: np.ndarray
    parent: np.ndarray
    depth: np.ndarray
    filled_area: np.ndarray

    def surround_pairs(self) -> np.ndarray:
        """int64 (C, 2) every (outer, inner) pair where `outer` surrounds `inner` (any depth)."""
        out = []
        for inner in range(self.count):
            outer = int(self.parent[inner])
            while outer >= 0:
                out.append((outer, inner))
                outer = int(self.parent[outer])
        return np.asarray(out, dtype=np.int64).reshape(-1, 2)

    def surrounds(self, outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
        """bool (n,): does region outer[i] surround region inner[i] (at any depth)?"""
        outer = np.asarray(outer, dtype=np.int64)
        inner = np.asarray(inner, dtype=np.int64)
        result = np.zeros(outer.shape, bool)
        current = self.parent[inner].copy()
        for _ in range(int(self.depth.max(initial=0))):
            result |= current == outer
            current = np.where(current >= 0, self.parent[np.maximum(current, 0)], -1)
        return result

    def neighbour_counts(self) -> np.ndarray:
        """int64 (R,) number of adjacent regions of each region."""
        return np.bincount(self.edges.ravel(), minlength=self.count).astype(np.int64)


def build_region_graph(labels: np.ndarray, count: int | None = None) -> RegionGraph:
    """The graph of a label map: int (H, W), region ids in [0, count), -1 = transparent."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be 2-D (H, W), got shape {labels.shape}")
    labels = labels.astype(np.int64, copy=False)
    h, w = labels.shape
    if count is None:
        count = int(labels.max()) + 1 if labels.size else 0
    count = max(int(count), 0)
    flat = labels.ravel()
    areas = np.bincount(flat + 1, minlength=count + 1)[1:].astype(np.int64)

    border = np.zeros(count, np.int64)
    for line in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        line = line[line >= 0]
        border += np.bincount(line, minlength=count)[:count]

    perimeter = border.copy()
    codes = []
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        diff = a != b
        a_d, b_d = a[diff], b[diff]
        perimeter += np.bincount(a_d[a_d >= 0], minlength=count)[:count]
        perimeter += np.bincount(b_d[b_d >= 0], minlength=count)[:count]
        both = (a_d >= 0) & (b_d >= 0)
        lo = np.minimum(a_d[both], b_d[both])
        hi = np.maximum(a_d[both], b_d[both])
        codes.append(lo * max(count, 1) + hi)
    code, shared = np.unique(np.concatenate(codes), return_counts=True)
    edges = np.stack(np.divmod(code, max(count, 1)), axis=1).astype(np.int64)
    shared = shared.astype(np.int64)

    bbox, centroid = _boxes_and_centroids(labels, count)
    work, factor = working_labels(labels)
    thickness = _thickness(work, count) * factor if factor > 1 else _thickness(labels, count)
    if factor > 1:
        present = np.bincount(work.ravel() + 1, minlength=count + 1)[1:] > 0
        thickness[~present] = 1.0
    parent, depth, filled = _surround_tree(labels, count, edges, areas, border)
    return RegionGraph(
        shape=(h, w),
        count=count,
        areas=areas,
        perimeter=perimeter,
        border=border,
        bbox=bbox,
        centroid=centroid,
        thickness=thickness,
        edges=edges.reshape(-1, 2),
        shared=shared,
        parent=parent,
        depth=depth,
        filled_area=filled,
    )


def _boxes_and_centroids(labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    bbox = np.zeros((count, 4), np.int64)
    centroid = np.zeros((count, 2))
    if count == 0:
        return bbox, centroid
    flat = labels.ravel() + 1
    areas = np.maximum(np.bincount(flat, minlength=count + 1)[1:], 1)
    h, w = labels.shape
    rows = np.repeat(np.arange(h, dtype=np.float64), w)
    cols = np.tile(np.arange(w, dtype=np.float64), h)
    centroid[:, 0] = np.bincount(flat, weights=rows, minlength=count + 1)[1:] / areas
    centroid[:, 1] = np.bincount(flat, weights=cols, minlength=count + 1)[1:] / areas
    for region, box in enumerate(ndi.find_objects(labels + 1, max_label=count)):
        if box is not None:
            bbox[region] = (box[0].start, box[1].start, box[0].stop, box[1].stop)
    return bbox, centroid


def _thickness(labels: np.ndarray, count: int) -> np.ndarray:
    """Largest distance (px) from a region pixel to a pixel of another label, per region."""
    if count == 0:
        return np.zeros(0)
    inner = np.ones(labels.shape, bool)  # False on pixels with a 4-neighbour of another label
    d0 = labels[:, :-1] != labels[:, 1:]
    inner[:, :-1] &= ~d0
    inner[:, 1:] &= ~d0
    d1 = labels[:-1] != labels[1:]
    inner[:-1] &= ~d1
    inner[1:] &= ~d1
    if inner.all():
        return np.full(count, float(max(labels.shape)))
    dist = ndi.distance_transform_edt(inner)
    thick = np.zeros(count + 1)  # slot 0: transparency (label -1)
    np.maximum.at(thick, labels[inner] + 1, dist[inner])  # boundary pixels have distance 0
    return thick[1:] + 1.0


def _surround_tree(
    labels: np.ndarray, count: int, edges: np.ndarray, areas: np.ndarray, border: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(parent, depth, filled_area) from the dominator tree of the adjacency graph (see module)."""
    parent = np.full(count, -1, np.int64)
    depth = np.zeros(count, np.int64)
    filled = areas.copy()
    if count == 0:
        return parent, depth, filled
    transparent = labels < 0
    n_trans = 0
    extra_edges = np.zeros((0, 2), np.int64)
    trans_area = np.zeros(0, np.int64)
    trans_border = np.zeros(0, bool)
    if transparent.any():
        comp, n_trans = ndi.label(transparent)  # 4-connected components of transparency
        comp = comp.astype(np.int64) - 1  # -1 on opaque pixels
        trans_area = np.bincount(comp[comp >= 0], minlength=n_trans).astype(np.int64)
        trans_border = np.zeros(n_trans, bool)
        for line in (comp[0], comp[-1], comp[:, 0], comp[:, -1]):
            trans_border[line[line >= 0]] = True
        pairs = []
        for a, b, ca, cb in (
            (labels[:, :-1], labels[:, 1:], comp[:, :-1], comp[:, 1:]),
            (labels[:-1], labels[1:], comp[:-1], comp[1:]),
        ):
            m = (a >= 0) & (cb >= 0)
            pairs.append(np.stack([a[m], count + cb[m]], axis=1))
            m = (b >= 0) & (ca >= 0)
            pairs.append(np.stack([b[m], count + ca[m]], axis=1))
        extra_edges = np.unique(np.concatenate(pairs), axis=0)
    n = count + n_trans + 1
    root = n - 1
    node_area = np.concatenate([areas, trans_area, [0]])
    touches = np.concatenate([border > 0, trans_border])
    all_edges = np.concatenate(
        [
            edges,
            extra_edges,
            np.stack([np.flatnonzero(touches), np.full(int(touches.sum()), root)], axis=1),
        ]
    )
    idom = _dominators(n, all_edges, root)
    # nearest region ancestor of every region (transparent nodes are skipped)
    up = idom.copy()
    for node in range(n):
        u = up[node]
        while count <= u < root:
            u = idom[u]
        up[node] = u
    region_parent = up[:count]
    parent[:] = np.where(region_parent == root, -1, region_parent)
    # filled area: each node adds its area to every region that dominates it
    for node in range(n - 1):
        if node_area[node] == 0:
            continue
        u = idom[node]
        while u != root:
            if u < count:
                filled[u] += node_area[node]
            u = idom[u]
    for r in range(count):
        d, u = 0, parent[r]
        while u >= 0:
            d += 1
            u = parent[u]
        depth[r] = d
    return parent, depth, filled


def _dominators(n: int, edges: np.ndarray, root: int) -> np.ndarray:
    """Immediate dominators (int64 (n,), idom[root] = root) of an undirected graph from `root`.

    Cooper, Harvey and Kennedy, "A Simple, Fast Dominance Algorithm" (2001), with every edge taken
    in both directions. Nodes not reachable from the root get idom = root.
    """
    if len(edges):
        both = np.concatenate([edges, edges[:, ::-1]])
        both = both[both[:, 0] != both[:, 1]]
        order = np.argsort(both[:, 0], kind="stable")
        src, dst = both[order, 0], both[order, 1]
    else:
        src = dst = np.zeros(0, np.int64)
    starts = np.searchsorted(src, np.arange(n + 1))
    neighbours = [dst[starts[i] : starts[i + 1]].tolist() for i in range(n)]
    # iterative DFS post-order from the root
    post = np.full(n, -1, np.int64)
    visited = np.zeros(n, bool)
    order_list: list[int] = []
    stack = [(root, 0)]
    visited[root] = True
    while stack:
        node, k = stack[-1]
        nbrs = neighbours[node]
        if k < len(nbrs):
            stack[-1] = (node, k + 1)
            nxt = nbrs[k]
            if not visited[nxt]:
                visited[nxt] = True
                stack.append((nxt, 0))
        else:
            stack.pop()
            post[node] = len(order_list)
            order_list.append(node)
    idom = np.full(n, -1, np.int64)
    idom[root] = root
    rpo = order_list[::-1]
    post_l = post.tolist()
    idom_l = idom.tolist()
    changed = True
    while changed:
        changed = False
        for node in rpo:
            if node == root:
                continue
            new = -1
            for p in neighbours[node]:
                if idom_l[p] == -1:
                    continue
                if new == -1:
                    new = p
                    continue
                a, b = p, new
                while a != b:
                    while post_l[a] < post_l[b]:
                        a = idom_l[a]
                    while post_l[b] < post_l[a]:
                        b = idom_l[b]
                new = a
            if new != -1 and idom_l[node] != new:
                idom_l[node] = new
                changed = True
    idom = np.asarray(idom_l, dtype=np.int64)
    idom[idom == -1] = root
    return idom
