"""Amodal completion of layers under the layers above: nearest, harmonic, none."""

from __future__ import annotations

import numpy as np
import pytest

from decomposer import decompose
from decomposer.completion import CompletionConfig, LayerPixels, build_layers

WHITE, RED, YELLOW, GREEN = (255, 255, 255), (200, 20, 20), (240, 220, 0), (20, 160, 40)


def _scene(alpha_disc: int = 255) -> tuple[np.ndarray, np.ndarray]:
    """White back (layer 0); red square + yellow bar (layer 1); green disc over the square's corner.

    Returns (rgba uint8 (64, 64, 4), owner int (64, 64)).
    """
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[...] = (*WHITE, 255)
    owner = np.zeros((64, 64), int)
    rgba[10:40, 10:40] = (*RED, 255)
    owner[10:40, 10:40] = 1
    rgba[50:56, 5:60] = (*YELLOW, 255)
    owner[50:56, 5:60] = 1
    yy, xx = np.mgrid[0:64, 0:64]
    disc = np.hypot(yy - 38, xx - 38) < 12
    rgba[disc] = (*GREEN, alpha_disc)
    owner[disc] = 2
    return rgba, owner


def _full(pixels: LayerPixels, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape + (4,), np.uint8)
    x, y = pixels.offset
    h, w = pixels.rgba.shape[:2]
    out[y : y + h, x : x + w] = pixels.rgba
    return out


def _check_invariants(layers: list[LayerPixels], owner: np.ndarray, rgba: np.ndarray) -> None:
    for n, pixels in enumerate(layers):
        full = _full(pixels, owner.shape)
        own = owner == n
        assert (full[own] == rgba[own]).all()
        invented = (full[..., 3] > 0) & ~own
        assert invented.sum() == pixels.invented
        assert own.sum() == pixels.visible
        # invented pixels: only under a fully opaque pixel owned by a layer above, opaque
        assert (owner[invented] > n).all()
        assert (rgba[invented][:, 3] == 255).all()
        assert (full[invented][:, 3] == 255).all()
        total = pixels.visible + pixels.invented
        assert pixels.invented_fraction == pytest.approx(pixels.invented / total)


def test_nearest_completes_the_hidden_corner_with_the_layers_own_colour() -> None:
    rgba, owner = _scene()
    layers = build_layers(owner, rgba, 3, CompletionConfig(mode="nearest"))
    _check_invariants(layers, owner, rgba)
    red = _full(layers[1], owner.shape)
    hidden_square = np.zeros((64, 64), bool)
    hidden_square[10:40, 10:40] = True
    hidden_square &= owner == 2
    # well inside the square's hidden part the red layer is completed, in red
    assert (red[30:36, 30:36, :3] == RED).all() and (red[30:36, 30:36, 3] == 255).all()
    share = (red[hidden_square, 3] == 255).mean()
    assert share > 0.7
    # colours come from the layer's own visible pixels only
    invented = (red[..., 3] > 0) & (owner != 1)
    colours = {tuple(c) for c in red[invented][:, :3]}
    assert colours <= {RED, YELLOW}
    # the back layer is completed everywhere under the opaque layers above: full canvas
    back = _full(layers[0], owner.shape)
    assert (back[..., 3] == 255).all() and (back[..., :3] == WHITE).all()
    assert layers[0].invented_fraction == pytest.approx((owner > 0).mean())
    # the top layer has nothing above it
    assert layers[2].invented == 0


def test_none_keeps_visible_pixels_only() -> None:
    rgba, owner = _scene()
    layers = build_layers(owner, rgba, 3, CompletionConfig(mode="none"))
    _check_invariants(layers, owner, rgba)
    assert [p.invented for p in layers] == [0, 0, 0]
    assert layers[1].offset == (5, 10) and layers[1].rgba.shape[:2] == (46, 55)


def test_harmonic_is_smooth_and_coloured_from_the_layer() -> None:
    rgba, owner = _scene()
    layers = build_layers(owner, rgba, 3, CompletionConfig(mode="harmonic"))
    _check_invariants(layers, owner, rgba)
    red = _full(layers[1], owner.shape)
    assert (red[30:35, 30:35, 3] == 255).all()
    inside = red[30:35, 30:35, :3].astype(int)
    # a blend of the layer's own colours (red square, yellow bar), mostly red near the square
    low, high = np.minimum(RED, YELLOW), np.maximum(RED, YELLOW)
    assert ((inside >= low - 1) & (inside <= high + 1)).all()
    assert (np.abs(inside - RED).sum(axis=2) < np.abs(inside - YELLOW).sum(axis=2)).all()
    far = red[44:50, 44:50, 3]  # beyond the square's extent, bordered by white
    assert (far == 0).all()


def test_no_completion_under_partially_transparent_pixels() -> None:
    rgba, owner = _scene(alpha_disc=180)
    for mode in ("nearest", "harmonic"):
        layers = build_layers(owner, rgba, 3, CompletionConfig(mode=mode))
        _check_invariants(layers, owner, rgba)
        # the back is completed only under the opaque red layer, never under the disc
        assert 0 < layers[0].invented <= int((owner == 1).sum())
        assert layers[1].invented == 0


@pytest.mark.parametrize("mode", ["nearest", "harmonic"])
def test_coarse_grid_keeps_the_invariants(mode: str) -> None:
    rgba, owner = _scene()
    config = CompletionConfig(mode=mode, max_work_pixels=300, max_harmonic_cells=300)
    layers = build_layers(owner, rgba, 3, config)
    _check_invariants(layers, owner, rgba)
    red = _full(layers[1], owner.shape)
    assert (red[31:35, 31:35, 3] == 255).all()
    colours = {tuple(c) for c in red[(red[..., 3] > 0) & (owner != 1)][:, :3]}
    if mode == "nearest":
        assert colours <= {RED, YELLOW}


def test_completion_is_bounded_by_the_margin() -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[...] = (*GREEN, 255)
    owner = np.ones((100, 100), int)
    rgba[0:4, 0:4] = (*RED, 255)
    owner[0:4, 0:4] = 0
    layers = build_layers(owner, rgba, 2, CompletionConfig(margin_fraction=0.5, margin_min=8))
    # a 4 px back layer may grow by at most max(8, 2) px beyond its box
    assert layers[0].rgba.shape[:2] == (12, 12)
    assert layers[0].invented == 12 * 12 - 16


def test_decompose_records_invented_fractions() -> None:
    rgba, owner = _scene()
    index = owner.astype(np.float32)
    for mode in ("nearest", "harmonic", "none"):
        dec = decompose(rgba, layers=3, index_map=index, completion=mode)
        fractions = [layer.invented_fraction for layer in dec.layers]
        assert dec.info["invented_fraction"] == fractions
        assert dec.info["completion"] == mode
        if mode == "none":
            assert fractions == [0.0, 0.0, 0.0]
        else:
            assert fractions[0] > 0.2 and fractions[1] > 0.0 and fractions[2] == 0.0
        assert (dec.composite() == rgba).all()


def test_unknown_mode_rejected() -> None:
    with pytest.raises(ValueError, match="completion must be one of"):
        CompletionConfig(mode="magic")
