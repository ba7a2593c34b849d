"""The learned orderer: features, the global least-squares solve, the shipped model end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from decomposer.errors import ModelLoadError
from decomposer.orderer import DEFAULT_ORDERER_DIR, Orderer, SolverConfig, load_orderer, solve_order
from decomposer.orderer_features import (
    FEATURE_VERSION,
    convex_polygon_mask,
    feature_names,
    orderer_inputs,
)
from decomposer.ordering import ORDERINGS
from decomposer.pipeline import decompose_pixels
from decomposer.regions import segment_regions


def _rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]).astype(np.uint8)


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def test_solver_recovers_a_known_order_from_noisy_pair_margins() -> None:
    rng = np.random.default_rng(0)
    truth = rng.permutation(12).astype(np.float64)  # rank of each item, 0 = back
    every = np.array([(a, b) for a in range(12) for b in range(a + 1, 12)])
    off = ~np.eye(12, dtype=bool)

    def agreement(pairs: np.ndarray, flip: np.ndarray | None = None) -> float:
        margins = np.sign(truth[pairs[:, 0]] - truth[pairs[:, 1]]) * 2.0
        if flip is not None:
            margins = np.where(flip, -margins, margins)
        scores = solve_order(12, pairs, margins, None, SolverConfig(lam=0.01, clip=4.0))
        same = np.sign(scores[:, None] - scores[None, :]) == np.sign(
            truth[:, None] - truth[None, :]
        )
        return float(same[off].mean())

    assert agreement(every) == 1.0  # every pair, all right: the exact order
    assert agreement(every, rng.random(len(every)) < 0.1) > 0.8  # 10 % of the decisions wrong
    half = every[rng.random(len(every)) < 0.5]
    assert agreement(half) > 0.85  # half of the pairs, all right


def test_solver_follows_a_chain_and_the_prior_orders_unpaired_items() -> None:
    pairs = np.array([[1, 0], [2, 1], [3, 2]])  # 3 over 2 over 1 over 0
    scores = solve_order(5, pairs, np.full(3, 1.0), np.array([0, 0, 0, 0, 1.0]), SolverConfig())
    assert np.all(np.diff(scores[:4]) > 0)
    assert scores[4] > scores[0]  # item 4 is in no pair: the prior puts it near the front
    assert solve_order(0, np.zeros((0, 2)), np.zeros(0), None).shape == (0,)
    one = solve_order(1, np.zeros((0, 2)), np.zeros(0), np.array([0.5]), SolverConfig())
    assert one.shape == (1,) and np.isfinite(one).all()


def test_features_have_the_declared_names_and_swap_with_the_orientation() -> None:
    h, w = 60, 80
    rgb = np.full((h, w, 3), 250, np.uint8)
    rgb[_disc(h, w, 30, 30, 20)] = (200, 40, 40)
    rgb[_disc(h, w, 30, 30, 8)] = (30, 30, 160)
    rgb[5:15, 55:75] = (20, 150, 20)
    regions = segment_regions(_rgba(rgb))
    inputs = orderer_inputs(regions)
    unary_names, pair_names = feature_names(False)
    assert inputs.unary.shape == (regions.count, len(unary_names)) == (4, len(unary_names))
    assert inputs.pair_ab.shape == inputs.pair_ba.shape == (len(inputs.pairs), len(pair_names))
    assert np.isfinite(inputs.unary).all()
    col = {n: i for i, n in enumerate(pair_names)}
    k = len(unary_names)
    assert np.array_equal(inputs.pair_ab[:, :k], inputs.pair_ba[:, k : 2 * k])
    assert np.array_equal(
        inputs.pair_ab[:, col["a_surrounds_b"]], inputs.pair_ba[:, col["b_surrounds_a"]]
    )
    big, small = regions.labels[30, 15], regions.labels[30, 30]
    lo, hi = min(big, small), max(big, small)
    row = int(np.flatnonzero((inputs.pairs[:, 0] == lo) & (inputs.pairs[:, 1] == hi))[0])
    feats = inputs.pair_ab[row] if lo == big else inputs.pair_ba[row]
    assert feats[col["a_surrounds_b"]] == 1.0 and feats[col["b_surrounds_a"]] == 0.0
    assert feats[col["hull_a_covers_b"]] == pytest.approx(1.0)
    assert feats[col["shared_b"]] == pytest.approx(1.0)  # the inner disc touches only the big one
    # with the network's index map the net features are appended
    net = orderer_inputs(regions, net_index=np.zeros((h, w), np.float32))
    assert net.unary.shape[1] == len(feature_names(True)[0])
    assert net.pair_ab.shape[1] == len(feature_names(True)[1])


def test_convex_polygon_mask_fills_a_triangle() -> None:
    mask = convex_polygon_mask(np.array([0.0, 8.0, 8.0]), np.array([0.0, 0.0, 8.0]), 9, 9)
    assert mask.sum() == 45  # the lower-left triangle with its diagonal
    assert mask[8, 8] and mask[0, 0] and not mask[0, 8]


def test_the_shipped_orderer_is_what_its_metadata_says() -> None:
    meta = json.loads((DEFAULT_ORDERER_DIR / "meta.json").read_text())
    assert meta["feature_version"] == FEATURE_VERSION
    assert meta["uses_net"] is False  # the default path runs without the network
    assert meta["validation"]["validation"]["all"]["layers"]["order_fg"] > 0.7
    orderer = load_orderer()
    assert orderer is load_orderer(DEFAULT_ORDERER_DIR)  # read once per process
    assert not ORDERINGS["graph"].needs_index(None)
    assert ORDERINGS["median"].needs_index(None)


def test_a_shape_inside_a_ring_and_a_small_piece_on_a_big_one_come_out_in_front() -> None:
    h, w = 120, 160
    rgb = np.full((h, w, 3), 255, np.uint8)  # white background
    ring = _disc(h, w, 60, 50, 40) & ~_disc(h, w, 60, 50, 25)
    rgb[ring] = (40, 60, 200)  # a blue ring
    rgb[_disc(h, w, 60, 50, 15)] = (230, 200, 20)  # a yellow disc inside its hole
    rgb[20:100, 105:150] = (200, 30, 30)  # a big red box
    rgb[50:62, 118:130] = (20, 20, 20)  # a small dark square on it
    dec = decompose_pixels(_rgba(rgb), None, layers="auto", completion="none")
    index = dec.index_map
    assert dec.info["ordering"] == "graph" and index.dtype == np.float32
    back, ring_v, disc, box, square = (
        index[2, 2],
        index[60, 12],
        index[60, 50],
        index[30, 110],
        index[56, 124],
    )
    assert back < ring_v < disc
    assert back < box < square
    assert dec.layers[0].index == pytest.approx(float(back))


def test_median_ordering_needs_the_index_map() -> None:
    rgb = np.full((20, 20, 3), 255, np.uint8)
    rgb[5:15, 5:15] = 0
    from decomposer.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="index map"):
        decompose_pixels(_rgba(rgb), None, ordering="median")
    index = np.zeros((20, 20), np.float32)
    index[5:15, 5:15] = 3.0
    dec = decompose_pixels(_rgba(rgb), index, ordering="median", layers=2)
    assert dec.layers[1].index == pytest.approx(3.0)
    assert np.array_equal(dec.index_map, index)  # "median" keeps the network's own map


def test_a_broken_orderer_folder_is_a_one_line_error(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="meta.json"):
        Orderer.load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ModelLoadError, match="not an orderer"):
        Orderer.load(tmp_path)
    meta = json.loads((DEFAULT_ORDERER_DIR / "meta.json").read_text())
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "feature_version": -1}))
    with pytest.raises(ModelLoadError, match="feature version"):
        Orderer.load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    (tmp_path / "pair.txt").write_text("not a model")
    (tmp_path / "unary.txt").write_text("not a model")
    with pytest.raises(ModelLoadError, match="pair.txt"):
        Orderer.load(tmp_path)


def test_weighted_union_medians_match_the_pixel_medians_of_the_broadcast_map() -> None:
    from decomposer.ordering import GroupedMedians, weighted_union_medians

    rng = np.random.default_rng(3)
    labels = rng.integers(-1, 12, size=(40, 50))
    scores = rng.normal(size=12)
    scores[3] = scores[4]  # ties
    areas = np.bincount(labels.ravel() + 1, minlength=13)[1:]
    union_of = rng.integers(0, 4, size=12)
    union_of[union_of == 2] = 1  # union 2 is empty: NaN
    table = np.append(scores, 0.0)
    pixels = GroupedMedians(table[labels], labels, 12).union_medians(union_of, 4)
    exact = weighted_union_medians(scores, areas, union_of, 4)
    assert np.isnan(exact[2]) and np.isnan(pixels[2])
    span = scores.max() - scores.min()
    assert np.allclose(exact[[0, 1, 3]], pixels[[0, 1, 3]], atol=2 * span / 65535)
    # one region per union: its own score
    assert np.array_equal(weighted_union_medians(scores, areas, np.arange(12), 12), scores)
