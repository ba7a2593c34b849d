"""Ordering medians and grouping regions into exactly N layers (optimal 1-D DP, τ links, auto)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from decomposer.grouping import (
    AUTO_MAX_LAYERS,
    AUTO_UNEXPLAINED,
    group_regions,
    optimal_cuts,
    tau_links,
)
from decomposer.ordering import GroupedMedians, grouped_median


def _sse(m: np.ndarray, w: np.ndarray, starts: list[int]) -> float:
    bounds = list(starts) + [len(m)]
    total = 0.0
    for a, b in itertools.pairwise(bounds):
        mean = np.average(m[a:b], weights=w[a:b])
        total += float((w[a:b] * (m[a:b] - mean) ** 2).sum())
    return total


def test_hand_case_optimal_grouping() -> None:
    # medians 0, 1, 2 | 10, 11 | 30: the heavy item at 2 pulls the first group, obvious optimum
    m = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 30.0])
    w = np.array([1.0, 1.0, 8.0, 2.0, 2.0, 1.0])
    starts, sse, cut = optimal_cuts(m, w, 3)
    assert list(starts) == [0, 3, 5]
    assert cut == 0
    # by hand: group 1 mean = (0 + 1 + 16) / 10 = 1.7 -> 2.89 + 0.49 + 8 * 0.09 = 4.1;
    # group 2 mean 10.5 -> 2 * 0.25 * 2 = 1.0; group 3 -> 0
    assert sse == pytest.approx(5.1)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("groups", [2, 3, 4])
def test_dp_matches_brute_force(seed: int, groups: int) -> None:
    rng = np.random.default_rng(seed)
    m = np.sort(rng.uniform(0, 10, 9))
    w = rng.integers(1, 50, 9).astype(float)
    starts, sse, _ = optimal_cuts(m, w, groups)
    best = min(
        _sse(m, w, [0, *cuts]) for cuts in itertools.combinations(range(1, len(m)), groups - 1)
    )
    assert sse == pytest.approx(best, rel=1e-9, abs=1e-9)
    assert _sse(m, w, list(starts)) == pytest.approx(best, rel=1e-9, abs=1e-9)


def test_links_are_cut_only_when_needed() -> None:
    m = np.array([0.0, 0.1, 5.0, 5.1, 9.0])
    w = np.ones(5)
    links = np.array([False, True, False, True, False])  # (0,1) and (2,3) prefer to stay
    starts, _, cut = optimal_cuts(m, w, 3, links)
    assert list(starts) == [0, 2, 4] and cut == 0
    starts, _, cut = optimal_cuts(m, w, 5, links)
    assert list(starts) == [0, 1, 2, 3, 4] and cut == 2
    # with 4 groups exactly one link is cut: the one whose cut lowers the SSE most (equal here,
    # so any; but never a grouping that cuts both links)
    starts, _, cut = optimal_cuts(m, w, 4, links)
    assert cut == 1 and len(starts) == 4


def test_tau_links_follow_the_first_colour_of_each_run() -> None:
    medians = np.array([0.0, 1.0, 2.0, 3.0, 3.0])
    colours = np.array(
        [[100, 100, 100], [108, 100, 100], [116, 100, 100], [200, 0, 0], [0, 0, 200]], np.uint8
    )
    links = tau_links(medians, colours, tau=0.05)  # 0.05 * 255 ≈ 12.75 levels
    # 1 joins 0 (8 levels); 2 is 16 levels from the run's first colour, so starts a new run;
    # 4 has the same median as 3, so joins it whatever its colour
    assert list(links) == [False, True, False, False, True]


def test_exactly_n_layers_and_tau_merge_first() -> None:
    # 8 regions; two pairs are close in colour and adjacent in order
    medians = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    areas = np.full(8, 100)
    colours = np.array(
        [[0, 0, 0], [2, 2, 2], [80, 0, 0], [0, 80, 0], [0, 0, 80], [0, 0, 82], [200, 200, 0],
         [0, 200, 200]],
        np.uint8,
    )  # fmt: skip
    result = group_regions(medians, areas, colours, layers=6)
    assert result.n_layers == 6 and result.n_runs == 6 and result.links_cut == 0
    layer = result.layer_of_region
    assert layer[0] == layer[1] and layer[4] == layer[5]
    assert list(np.unique(layer)) == list(range(6))
    assert (np.diff(layer) >= 0).all()  # sorted medians -> non-decreasing layers
    # asking for more layers than τ runs cuts links, still exactly N
    result = group_regions(medians, areas, colours, layers=8)
    assert result.n_layers == 8 and result.links_cut == 2


def test_fewer_regions_than_layers_gives_fewer_layers() -> None:
    result = group_regions(np.array([1.0, 0.0, 2.0]), np.array([5, 5, 5]), np.zeros((3, 3)), 6)
    assert result.n_layers == 3
    assert list(result.layer_of_region) == [1, 0, 2]  # bottom = lowest median


def test_auto_picks_the_natural_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = [0.0, 3.0, 7.0, 12.0]
    medians = np.concatenate([c + rng.normal(0, 0.05, 10) for c in centres])
    colours = rng.integers(0, 256, (40, 3)).astype(np.uint8)
    result = group_regions(medians, np.full(40, 50), colours, layers="auto", tau=0.0)
    assert result.n_layers == 4
    assert 1 <= result.n_layers <= AUTO_MAX_LAYERS


def test_auto_criterion_holds_exactly() -> None:
    rng = np.random.default_rng(1)
    medians = np.sort(rng.uniform(0, 1, 60))
    weights = rng.integers(1, 30, 60).astype(float)
    colours = rng.integers(0, 256, (60, 3)).astype(np.uint8)
    result = group_regions(medians, weights, colours, layers="auto", tau=0.0)
    n = result.n_layers
    _, sse_one, _ = optimal_cuts(medians, weights, 1)
    _, sse_fewer, _ = optimal_cuts(medians, weights, n - 1)
    # a continuum: the smallest N leaving at most 1% of the variance (about 10 for uniform data)
    assert result.sse <= AUTO_UNEXPLAINED * sse_one < sse_fewer
    assert 8 <= n <= AUTO_MAX_LAYERS


def test_auto_gives_one_layer_per_well_separated_level() -> None:
    rng = np.random.default_rng(6)
    levels = np.repeat(np.arange(8.0), 12) + rng.normal(0, 0.08, 96)
    colours = rng.integers(0, 256, (96, 3)).astype(np.uint8)
    result = group_regions(levels, np.full(96, 40), colours, layers="auto", tau=0.0)
    assert result.n_layers == 8


def test_many_regions_are_reduced_and_still_give_n_layers() -> None:
    rng = np.random.default_rng(2)
    medians = rng.uniform(0, 1, 5000)
    colours = rng.integers(0, 256, (5000, 3)).astype(np.uint8)
    result = group_regions(medians, rng.integers(1, 100, 5000), colours, layers=8)
    assert result.n_layers == 8
    order = np.argsort(medians)
    assert (np.diff(result.layer_of_region[order]) >= 0).all()


def test_grouped_median_matches_numpy() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(0, 3, 20_000).astype(np.float32)
    groups = rng.integers(-1, 50, 20_000)
    medians = grouped_median(values, groups, 52)
    span = float(values[groups >= 0].max() - values[groups >= 0].min())
    for g in range(50):
        assert medians[g] == pytest.approx(np.median(values[groups == g]), abs=span / 65535)
    assert np.isnan(medians[50:]).all()  # empty groups
    constant = grouped_median(np.full(10, 2.5, np.float32), np.zeros(10, int), 1)
    assert constant[0] == 2.5


def test_union_medians_match_numpy() -> None:
    rng = np.random.default_rng(5)
    values = rng.uniform(-2, 5, 30_000).astype(np.float32)
    groups = rng.integers(-1, 40, 30_000)
    union_of = rng.integers(0, 6, 40)
    stats = GroupedMedians(values, groups, 40)
    unions = stats.union_medians(union_of, 7)
    member = np.where(groups >= 0, union_of[np.maximum(groups, 0)], -1)
    for u in range(6):
        assert unions[u] == pytest.approx(np.median(values[member == u]), abs=7 / 65535)
    assert np.isnan(unions[6])
    assert stats.medians()[3] == pytest.approx(np.median(values[groups == 3]), abs=7 / 65535)


def test_many_regions_with_few_distinct_medians_still_give_n_layers() -> None:
    rng = np.random.default_rng(3)
    medians = rng.choice([0.0, 1.0, 2.0], 4000)
    colours = rng.integers(0, 256, (4000, 3)).astype(np.uint8)
    result = group_regions(medians, np.full(4000, 10), colours, layers=6)
    assert result.n_layers == 6
    assert set(np.unique(result.layer_of_region)) == set(range(6))
    constant = group_regions(np.zeros(3000), np.ones(3000), colours[:3000], layers=4)
    assert constant.n_layers == 4
