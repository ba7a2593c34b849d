"""The exactness invariant: compositing the layers bottom -> top reproduces the input bit-exactly."""

from __future__ import annotations

import numpy as np
import pytest

from decomposer import composite_layers, decompose
from decomposer.types import Decomposition, Layer


def anti_aliased_art(
    size: int = 160, seed: int = 0, shapes: int = 9, transparent: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(rgba uint8 (size, size, 4), index map float32): discs/boxes with analytic anti-aliasing.

    With `transparent`, the background is empty and shape silhouettes have partial alpha.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    rgb = np.empty((size, size, 3))
    rgb[:] = rng.integers(0, 256, 3)
    alpha = np.zeros((size, size)) if transparent else np.ones((size, size))
    index = np.zeros((size, size), np.float32)
    for k in range(shapes):
        cy, cx = rng.uniform(0.15, 0.85, 2) * size
        r = rng.uniform(0.08, 0.22) * size
        if k % 2:
            dist = np.hypot(yy - cy, xx - cx) - r
        else:
            dist = np.maximum(np.abs(yy - cy), np.abs(xx - cx) * 0.8) - r
        cover = np.clip(0.5 - dist, 0.0, 1.0)
        colour = rng.integers(0, 256, 3)
        # straight-alpha "over" of an opaque shape with coverage `cover`
        new_alpha = cover + alpha * (1 - cover)
        safe = np.where(new_alpha > 0, new_alpha, 1)
        rgb = (colour * cover[..., None] + rgb * (alpha * (1 - cover))[..., None]) / safe[..., None]
        alpha = new_alpha
        index[cover > 0.5] = k + 1 + rng.uniform(-0.2, 0.2)
    index += rng.normal(0, 0.05, index.shape).astype(np.float32)
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    rgba[..., 3] = np.clip(np.rint(alpha * 255), 0, 255).astype(np.uint8)
    return rgba, index


def assert_exact(dec: Decomposition, source: np.ndarray) -> None:
    """RGB inputs: identical; RGBA inputs: identical alpha, identical colour where alpha > 0."""
    out = dec.composite()
    assert out.shape == source.shape and out.dtype == np.uint8
    assert (out[..., 3] == source[..., 3]).all()
    seen = source[..., 3] > 0
    assert (out[seen][:, :3] == source[seen][:, :3]).all()


def assert_owned_once(dec: Decomposition, source: np.ndarray) -> None:
    """Each visible pixel's topmost layer holds it exactly; content below only under alpha 255."""
    h, w = source.shape[:2]
    top = np.full((h, w), -1)
    stacks = []
    for k, layer in enumerate(dec.layers):
        full = np.zeros((h, w, 4), np.uint8)
        x, y = layer.offset
        lh, lw = layer.rgba.shape[:2]
        full[y : y + lh, x : x + lw] = layer.rgba
        stacks.append(full)
        top[full[..., 3] > 0] = k
    seen = source[..., 3] > 0
    assert (top[seen] >= 0).all() and (top[~seen] == -1).all()
    for k, full in enumerate(stacks):
        is_top = top == k
        assert (full[is_top] == source[is_top]).all()
        below = (full[..., 3] > 0) & (top > k)
        assert (source[below][:, 3] == 255).all()  # invented only under opaque owners
        assert (full[below][:, 3] == 255).all()


@pytest.mark.parametrize("completion", ["nearest", "harmonic", "none"])
@pytest.mark.parametrize("layers", [1, 3, 6, 8])
def test_rgb_art_recomposes_bit_exactly(completion: str, layers: int) -> None:
    rgba, index = anti_aliased_art(seed=layers)
    dec = decompose(rgba, layers=layers, index_map=index, completion=completion)
    assert len(dec.layers) == layers
    assert_exact(dec, rgba)
    assert_owned_once(dec, rgba)
    assert (dec.composite() == rgba).all()  # RGB input: every byte


@pytest.mark.parametrize("completion", ["nearest", "harmonic", "none"])
def test_rgba_art_recomposes_exactly(completion: str) -> None:
    rgba, index = anti_aliased_art(seed=3, transparent=True)
    partial = (rgba[..., 3] > 0) & (rgba[..., 3] < 255)
    assert partial.sum() > 50 and (rgba[..., 3] == 0).sum() > 1000
    dec = decompose(rgba, layers=5, index_map=index, completion=completion)
    assert len(dec.layers) == 5
    assert_exact(dec, rgba)
    assert_owned_once(dec, rgba)
    # no layer other than the owner has content under a partially transparent pixel
    coverage = np.zeros(rgba.shape[:2], int)
    for layer in dec.layers:
        x, y = layer.offset
        lh, lw = layer.rgba.shape[:2]
        coverage[y : y + lh, x : x + lw] += layer.rgba[..., 3] > 0
    assert (coverage[partial] == 1).all()
    assert (coverage[rgba[..., 3] == 0] == 0).all()


def test_noisy_input_and_random_index_map_still_exact() -> None:
    rgba, _ = anti_aliased_art(seed=5)
    rng = np.random.default_rng(9)
    noisy = rgba.copy()
    noisy[..., :3] = np.clip(rgba[..., :3].astype(int) + rng.integers(-6, 7, (160, 160, 3)), 0, 255)
    index = rng.random((160, 160)).astype(np.float32)
    dec = decompose(noisy, layers=7, index_map=index)
    assert (dec.composite() == noisy).all()
    assert_owned_once(dec, noisy)


def test_rgba_input_with_fully_opaque_alpha_channel_is_exact() -> None:
    rgba, index = anti_aliased_art(seed=11)
    dec = decompose(rgba, layers=4, index_map=index)
    assert not dec.info["has_alpha"]
    assert (dec.composite() == rgba).all()


def _layer(rgba: list, offset: tuple[int, int] = (0, 0)) -> Layer:
    return Layer(name="l", rgba=np.array(rgba, np.uint8), offset=offset)


def test_compositor_special_cases_are_exact() -> None:
    bottom = _layer([[[10, 20, 30, 255], [10, 20, 30, 100], [0, 0, 0, 0], [1, 2, 3, 255]]])
    top = _layer([[[200, 100, 50, 0], [200, 100, 50, 37], [77, 88, 99, 201], [9, 8, 7, 255]]])
    out = composite_layers([bottom, top], (4, 1))
    assert tuple(out[0, 0]) == (10, 20, 30, 255)  # transparent top leaves the canvas
    assert tuple(out[0, 2]) == (77, 88, 99, 201)  # over transparent: copied as is
    assert tuple(out[0, 3]) == (9, 8, 7, 255)  # opaque top replaces
    # general case: integer formula at scale 255^2 with round-half-up
    a_t, a_b = 37, 100
    big_a = a_t * 255 + a_b * (255 - a_t)
    assert out[0, 1, 3] == (big_a + 127) // 255
    for c, (ct, cb) in enumerate(((200, 10), (100, 20), (50, 30))):
        big_c = ct * a_t * 255 + cb * a_b * (255 - a_t)
        assert out[0, 1, c] == (2 * big_c + big_a) // (2 * big_a)


def test_compositor_offsets_and_clipping() -> None:
    red = _layer([[[255, 0, 0, 255]] * 3] * 2, offset=(-1, 1))
    blue = _layer([[[0, 0, 255, 255]] * 2] * 2, offset=(3, 2))  # partly outside
    far = _layer([[[0, 255, 0, 255]]], offset=(10, 10))  # fully outside
    out = composite_layers([red, blue, far], (4, 3))
    assert out.shape == (3, 4, 4)
    assert (out[1:3, 0:2] == (255, 0, 0, 255)).all()
    assert (out[2, 3] == (0, 0, 255, 255)).all()
    assert (out[0] == 0).all() and (out[1, 2:] == 0).all()
    with pytest.raises(ValueError, match="uint8"):
        composite_layers([Layer("x", np.zeros((1, 1, 3), np.uint8), (0, 0))], (1, 1))
