"""The region graph on constructed label maps: adjacency lengths, perimeter, border contact,
surround tree (holes), boxes, thickness, filled areas."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from decomposer.region_graph import build_region_graph


def _target() -> np.ndarray:
    """0 background; 1 a ring (square frame 3 px wide); 2 a square inside the ring's hole;
    3 a dot inside 2; 4 a bar on the top border, touching nothing else."""
    lab = np.zeros((30, 40), np.int64)
    lab[5:25, 5:25] = 1
    lab[8:22, 8:22] = 2
    lab[13:16, 13:16] = 3
    lab[0:2, 30:40] = 4
    return lab


def _edge(graph, a: int, b: int) -> int:
    lo, hi = min(a, b), max(a, b)
    hit = np.flatnonzero((graph.edges[:, 0] == lo) & (graph.edges[:, 1] == hi))
    return int(graph.shared[hit[0]]) if hit.size else 0


def test_adjacency_lengths_perimeter_and_border_contact() -> None:
    g = build_region_graph(_target())
    assert g.count == 5 and g.shape == (30, 40)
    assert [tuple(e) for e in g.edges] == [(0, 1), (0, 4), (1, 2), (2, 3)]
    assert _edge(g, 0, 1) == 4 * 20  # the ring's outer boundary
    assert _edge(g, 1, 2) == 4 * 14  # its inner boundary
    assert _edge(g, 2, 3) == 4 * 3
    assert _edge(g, 0, 4) == 2 + 10  # the bar's left side and bottom
    assert _edge(g, 0, 3) == 0
    # perimeter counts every pixel edge to another label or the image border
    assert g.perimeter[1] == 80 + 56 and g.perimeter[3] == 12
    assert g.border[4] == 10 + 2  # top row and the right column
    assert g.perimeter[4] == 12 + 12
    assert g.border[0] == 2 * (30 + 40) - 12
    assert g.border[1] == g.border[2] == g.border[3] == 0
    assert np.array_equal(g.areas, np.bincount(_target().ravel()))
    assert g.neighbour_counts().tolist() == [2, 2, 2, 1, 1]


def test_surround_tree_matches_filled_holes() -> None:
    lab = _target()
    g = build_region_graph(lab)
    assert g.parent.tolist() == [-1, 0, 1, 2, -1]
    assert g.depth.tolist() == [0, 1, 2, 3, 0]
    # filled area = area of the region with its holes filled (scipy's binary_fill_holes)
    for r in range(g.count):
        assert g.filled_area[r] == ndi.binary_fill_holes(lab == r).sum(), r
    assert sorted(map(tuple, g.surround_pairs())) == [
        (0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3),
    ]  # fmt: skip
    assert g.surrounds(np.array([1, 0, 3, 4]), np.array([3, 2, 1, 2])).tolist() == [
        True,
        True,
        False,
        False,
    ]


def test_a_gap_in_the_ring_means_no_surround() -> None:
    lab = _target()
    lab[5:8, 15] = 0  # cut the ring: the background reaches the inner square
    g = build_region_graph(lab)
    assert g.parent[2] == 0 and g.parent[1] == 0  # the background still surrounds both
    assert g.parent[3] == 2
    assert _edge(g, 0, 2) > 0


def test_boxes_centroids_and_thickness() -> None:
    g = build_region_graph(_target())
    assert g.bbox[1].tolist() == [5, 5, 25, 25]
    assert g.bbox[4].tolist() == [0, 30, 2, 40]
    assert g.centroid[3] == pytest.approx([14.0, 14.0])
    # thickness: largest distance to a pixel of another label (the dot: 1 px from its rim out)
    assert g.thickness[3] == pytest.approx(2.0)
    assert g.thickness[1] == pytest.approx(2.0)  # a 3 px wide ring: its middle is 2 px away
    assert g.thickness[2] > g.thickness[3]


def test_transparent_holes_and_islands() -> None:
    lab = np.full((20, 20), -1, np.int64)  # transparent canvas
    lab[2:18, 2:18] = 0  # a square
    lab[6:14, 6:14] = -1  # with a transparent hole
    lab[9:11, 9:11] = 1  # an island in the hole
    g = build_region_graph(lab, 2)
    assert g.parent.tolist() == [-1, 0]
    assert g.filled_area[0] == 16 * 16
    assert g.edges.shape == (0, 2) and g.border.tolist() == [0, 0]
    assert g.perimeter[1] == 8


def test_empty_and_single_region() -> None:
    g = build_region_graph(np.zeros((4, 5), np.int64))
    assert g.count == 1 and g.edges.shape == (0, 2) and g.parent.tolist() == [-1]
    assert g.border[0] == 2 * (4 + 5) and g.perimeter[0] == g.border[0]
    g = build_region_graph(np.full((3, 3), -1), 0)
    assert g.count == 0 and g.surround_pairs().shape == (0, 2)
    with pytest.raises(ValueError, match="2-D"):
        build_region_graph(np.zeros((2, 2, 2)))


def test_working_map_bounds_the_thickness_transform() -> None:
    from decomposer.region_graph import WORK_SIDE, working_labels

    small = _target()
    work, factor = working_labels(small)
    assert factor == 1 and work is small  # up to WORK_SIDE px the map itself
    # the same drawing at 3x the working side: thickness is measured on a map of <= WORK_SIDE px
    # and scaled back, within one working pixel of the exact value
    scale = -(-3 * WORK_SIDE // 40)
    big = np.kron(small, np.ones((scale, scale), np.int64))
    work, factor = working_labels(big)
    assert max(work.shape) <= WORK_SIDE and factor == -(-max(big.shape) // WORK_SIDE)
    g = build_region_graph(big)
    exact = ndi.distance_transform_edt(big == 2).max()
    assert abs(g.thickness[2] - exact) <= 2 * factor
    assert g.areas.tolist() == (np.bincount(small.ravel()) * scale * scale).tolist()  # exact
    # a region thinner than the sampling step is missing from the working map: thickness 1
    thin = np.zeros((4 * WORK_SIDE, 8), np.int64)
    thin[:, 4] = 1
    assert build_region_graph(thin).thickness[1] == 1.0
