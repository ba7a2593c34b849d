"""Metrics on constructed cases (perfect, reversed, affine, ties, foreground, non-square)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from training.metrics import (
    all_metrics,
    mean_metrics,
    normalize_map,
    order_accuracy,
    order_fg,
    si_mae,
    si_mse,
)


def _scene(h: int = 23, w: int = 37) -> np.ndarray:
    """Non-square dense-rank map: background 0 and three overlapping rectangles 1..3."""
    gt = np.zeros((h, w), dtype=np.uint16)
    gt[2:15, 3:20] = 1
    gt[8:20, 10:30] = 2
    gt[5:12, 25:35] = 3
    return gt


def test_perfect_prediction_scores_one_and_zero_error() -> None:
    gt = _scene()
    m = all_metrics(gt.astype(np.float32), gt)
    assert m["order"] == 1.0 and m["order_strict"] == 1.0 and m["order_fg"] == 1.0
    assert m["si_mae"] == pytest.approx(0.0) and m["si_mse"] == pytest.approx(0.0)


def test_reversed_prediction_scores_zero() -> None:
    gt = _scene()
    pred = -gt.astype(np.float32)
    assert order_accuracy(pred, gt) == 0.0
    assert order_accuracy(pred, gt, strict=True) == 0.0
    assert order_fg(pred, gt) == 0.0
    assert si_mae(pred, gt) > 0.5


def test_affine_transform_of_truth_has_zero_si_errors() -> None:
    gt = _scene()
    pred = 0.37 * gt.astype(np.float64) - 12.5
    assert si_mae(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert si_mse(pred, gt) == pytest.approx(0.0, abs=1e-12)
    assert order_accuracy(pred, gt, strict=True) == 1.0


def test_prediction_ties_are_correct_only_in_lenient_order() -> None:
    gt = _scene()
    flat = np.zeros(gt.shape, dtype=np.float32)
    assert order_accuracy(flat, gt) == 1.0
    assert order_accuracy(flat, gt, strict=True) == 0.0


def test_order_matches_pair_count_expectation() -> None:
    # gt (0, 1, 2), pred (0, 2, 1): of the three untied unordered pairs, two are right -> 2/3
    gt = np.array([[0, 1, 2]])
    pred = np.array([[0.0, 2.0, 1.0]])
    assert order_accuracy(pred, gt, strict=True) == pytest.approx(2 / 3, abs=0.01)


def test_order_fg_ignores_background_pairs() -> None:
    gt = _scene()
    # background correctly at the back, but the drawn pieces in reverse order
    pred = np.where(gt > 0, 10.0 - gt, 0.0)
    assert order_fg(pred, gt) == 0.0
    assert order_accuracy(pred, gt, strict=True) > 0.3  # background pairs still right


def test_order_is_deterministic_for_a_seed() -> None:
    gt = _scene()
    pred = np.random.default_rng(3).normal(size=gt.shape)
    a = order_accuracy(pred, gt, seed=5)
    assert a == order_accuracy(pred, gt, seed=5)
    assert 0.3 < a < 0.7


def test_undefined_metrics_are_nan() -> None:
    flat_gt = np.zeros((5, 6), dtype=np.uint16)
    pred = np.random.default_rng(0).normal(size=(5, 6))
    assert math.isnan(order_accuracy(pred, flat_gt))
    assert math.isnan(order_fg(pred, flat_gt))


def test_normalize_map_lower_median() -> None:
    assert np.allclose(normalize_map(np.array([[0, 1, 2, 3]])), [[-1, 0, 1, 2]])


def test_mean_metrics_ignores_nan() -> None:
    rows = [
        {"order": 1.0, "order_strict": 0.5, "order_fg": float("nan"), "si_mae": 0.2, "si_mse": 0.1},
        {"order": 0.0, "order_strict": 0.5, "order_fg": 0.8, "si_mae": 0.4, "si_mse": 0.3},
    ]
    m = mean_metrics(rows)
    assert m["order"] == 0.5 and m["order_fg"] == 0.8 and m["si_mae"] == pytest.approx(0.3)


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        si_mae(np.zeros((3, 4)), np.zeros((4, 3)))
