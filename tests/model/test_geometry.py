"""model.geometry (numpy, no torch) computes what torch's path computes: the antialiased
bilinear resize, the square input and the crop back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.geometry import aa_weights, from_square, resize_bilinear_aa, to_square
from model.inference import _from_square, _to_square

SIZES = [
    (37, 1001, 9, 256),  # shrink, very wide
    (1001, 37, 256, 9),
    (1000, 1000, 100, 100),  # shrink ×10
    (300, 100, 256, 85),  # mixed: rows shrink, columns shrink a little
    (9, 256, 37, 1001),  # enlarge (the index map back to the input size)
    (100, 100, 1000, 1000),
    (255, 257, 256, 256),  # one axis up, one down
    (1, 1, 256, 256),
    (2, 3, 256, 255),
    (17, 5, 3, 2),
    (64, 64, 64, 64),  # same size
]


def _torch_resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(x)).float()
    t = t.permute(2, 0, 1)[None] if t.ndim == 3 else t[None, None]
    y = F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False, antialias=True)[0]
    return (y.permute(1, 2, 0) if x.ndim == 3 else y[0]).numpy()


@pytest.mark.parametrize(("h", "w", "oh", "ow"), SIZES)
def test_resize_matches_torch_antialiased_bilinear(h: int, w: int, oh: int, ow: int) -> None:
    rng = np.random.default_rng(h * 1000 + w)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    got = resize_bilinear_aa(rgb, oh, ow)
    assert got.shape == (oh, ow, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, _torch_resize(rgb, oh, ow), rtol=0, atol=255 * 1e-6)
    gray = rng.random((h, w), dtype=np.float32)
    np.testing.assert_allclose(
        resize_bilinear_aa(gray, oh, ow), _torch_resize(gray, oh, ow), rtol=0, atol=1e-6
    )


def test_filter_weights_are_normalised_and_local() -> None:
    first, weights = aa_weights(1000, 100)  # shrink ×10: 21 taps, centred on each output pixel
    assert weights.shape[1] in (20, 21)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert first[0] == 0 and first[-1] + weights.shape[1] >= 1000 - 1
    _, up = aa_weights(10, 100)  # enlarging is plain bilinear: at most 2 taps
    assert up.shape[1] == 2


def test_resize_refuses_an_empty_target() -> None:
    with pytest.raises(ValueError, match="at least 1×1"):
        resize_bilinear_aa(np.zeros((4, 4), np.float32), 0, 3)


@pytest.mark.parametrize("hw", [(37, 1001), (1001, 37), (1, 1), (2, 3), (256, 256), (300, 41)])
def test_square_input_and_crop_back_match_the_torch_path(hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(hw[0] + hw[1])
    image = rng.integers(0, 256, (*hw, 3), dtype=np.uint8)
    square = to_square(image, 64)
    assert square.shape == (3, 64, 64) and square.dtype == np.float32
    want = _to_square(image, 64, torch.device("cpu")).numpy()
    np.testing.assert_allclose(square, want, rtol=0, atol=1e-6)
    pred = rng.random((64, 64), dtype=np.float32)
    back = from_square(pred, *hw)
    assert back.shape == hw and back.dtype == np.float32
    np.testing.assert_allclose(back, _from_square(torch.from_numpy(pred), *hw), rtol=0, atol=1e-6)


def test_edge_replication_adds_no_border_colour() -> None:
    square = to_square(np.full((10, 40, 3), 200, np.uint8), 64)
    np.testing.assert_allclose(square, 200 / 255, atol=1e-6)
