"""Amodal completion of layers under the layers above: regions, nearest, harmonic, none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decomposer import decompose
from decomposer.completion import (
    CONTINUATIONS,
    CompletionConfig,
    LayerPixels,
    build_layers,
    region_flat_colours,
)
from decomposer.regions import RegionConfig, segment_regions
from decomposer.types import RegionMap

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation"

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


def _region_map(owner: np.ndarray, rgba: np.ndarray) -> RegionMap:
    """The image's flat-colour regions, each given the layer that owns most of its pixels."""
    found = segment_regions(rgba, RegionConfig(min_area=4))
    votes = np.zeros((found.count, int(owner.max()) + 2), int)
    np.add.at(votes, (found.labels[found.labels >= 0], owner[found.labels >= 0] + 1), 1)
    layer_of_region = votes.argmax(axis=1) - 1
    # the owner map must agree with the regions (a region is in one layer)
    owner[found.labels >= 0] = layer_of_region[found.labels[found.labels >= 0]]
    colours = region_flat_colours(found.labels, rgba, found.count)
    return RegionMap(found.labels, colours, layer_of_region)


def _assert_flat_colours(layers: list[LayerPixels], regions: RegionMap) -> None:
    """Every invented pixel is opaque and carries the flat colour of a region of its own layer."""
    for n, pixels in enumerate(layers):
        x, y = pixels.offset
        h, w = pixels.rgba.shape[:2]
        labels = regions.labels[y : y + h, x : x + w]
        own = (labels >= 0) & (regions.layer_of_region[labels] == n)
        invented = (pixels.rgba[..., 3] > 0) & ~own
        assert invented.sum() == pixels.invented
        allowed = {tuple(c) for c in regions.colours[regions.layer_of_region == n]}
        assert {tuple(c) for c in pixels.rgba[invented][:, :3]} <= allowed
        assert (pixels.rgba[invented][:, 3] == 255).all()


def test_regions_fills_in_flat_colours_of_the_layers_own_regions() -> None:
    rgba, owner = _scene()
    regions = _region_map(owner, rgba)
    layers = build_layers(owner, rgba, 3, CompletionConfig(mode="regions"), regions)
    _check_invariants(layers, owner, rgba)
    _assert_flat_colours(layers, regions)
    red = _full(layers[1], owner.shape)
    assert (red[30:36, 30:36, :3] == RED).all() and (red[30:36, 30:36, 3] == 255).all()
    invented = (red[..., 3] > 0) & (owner != 1)
    assert {tuple(c) for c in red[invented][:, :3]} <= {RED, YELLOW}
    assert {tuple(c) for c in red[invented & (np.arange(64)[:, None] < 36)][:, :3]} == {RED}
    back = _full(layers[0], owner.shape)  # only white surrounds what is above it: full canvas
    assert (back[..., 3] == 255).all() and (back[..., :3] == WHITE).all()
    assert layers[2].invented == 0


def test_regions_never_copies_anti_aliased_rim_colours() -> None:
    """An anti-aliased disc (layer 1) with a bar over its right side: `nearest` smears the
    rim's blended colours into the hidden part, `regions` uses the disc's own flat colour."""
    size = 96
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    cover = np.clip(30 - np.hypot(yy - 48, xx - 48) + 0.5, 0, 1)[..., None]
    rgb = np.rint(np.array(RED) * cover + np.array(WHITE) * (1 - cover)).astype(np.uint8)
    rgba = np.dstack([rgb, np.full((size, size), 255, np.uint8)])
    owner = np.where(cover[..., 0] > 0.5, 1, 0)
    rgba[32:64, 50:90] = (*GREEN, 255)
    owner[32:64, 50:90] = 2
    regions = _region_map(owner, rgba)
    hidden_disc = (np.hypot(yy - 48, xx - 48) < 29) & (owner == 2)
    recovered = {}
    for mode, extension in (("regions", "closest"), ("regions", "convex"), ("nearest", "closest")):
        config = CompletionConfig(mode=mode, continuation=extension)
        layers = build_layers(owner.copy(), rgba, 3, config, regions)
        _check_invariants(layers, owner, rgba)
        disc = _full(layers[1], owner.shape)
        invented = (disc[..., 3] > 0) & (owner == 2)
        colours = {tuple(c) for c in disc[invented][:, :3]}
        if mode == "regions":
            _assert_flat_colours(layers, regions)
            assert colours == {RED}
            recovered[extension] = (invented & hidden_disc).sum() / hidden_disc.sum()
        else:
            assert len(colours) > 1  # the rim's blends streak in
    # both bring back most of the hidden part of the disc: the closest visible pixel is red, or
    # the hull of the visible part (the disc less the bar's bite) bridges the bite
    assert recovered["closest"] > 0.85 and recovered["convex"] > 0.85


@pytest.mark.parametrize("extension", CONTINUATIONS)
def test_every_region_extension_keeps_the_invariants(extension: str) -> None:
    rgba, owner = _scene()
    regions = _region_map(owner, rgba)
    for cells in (1_000_000, 300):  # full resolution and a coarse grid
        config = CompletionConfig(
            mode="regions",
            continuation=extension,
            max_work_pixels=cells,
            max_harmonic_cells=cells,
            max_indicator_cells=cells,
        )
        layers = build_layers(owner, rgba, 3, config, regions)
        _check_invariants(layers, owner, rgba)
        _assert_flat_colours(layers, regions)
        red = _full(layers[1], owner.shape)
        # inside the bitten square's hull, hidden: continued in red by every extension
        assert (red[28:31, 28:31, :3] == RED).all(), (extension, cells)
        assert (red[28:31, 28:31, 3] == 255).all(), (extension, cells)


def test_enclosed_holes_fill_completely_even_on_a_coarse_grid() -> None:
    """A thin orange ring (layer 1) around a black square (layer 2) on white: everything under the
    square is surrounded by the ring alone, so the ring's layer fills all of it."""
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[...] = (*WHITE, 255)
    owner = np.zeros((80, 80), int)
    rgba[10:70, 10:70] = (255, 140, 0, 255)
    owner[10:70, 10:70] = 1
    rgba[12:68, 12:68] = (0, 0, 0, 255)
    owner[12:68, 12:68] = 2
    regions = _region_map(owner, rgba)
    for cells in (1_000_000, 200):
        config = CompletionConfig(mode="regions", max_work_pixels=cells)
        layers = build_layers(owner, rgba, 3, config, regions)
        _check_invariants(layers, owner, rgba)
        ring = _full(layers[1], owner.shape)
        assert (ring[12:68, 12:68, 3] == 255).all() and (
            ring[12:68, 12:68, :3] == (255, 140, 0)
        ).all()
        assert layers[1].invented == 56 * 56


def test_regions_on_bundled_validation_images_invents_only_own_region_colours() -> None:
    names = sorted(p.stem for p in (VALIDATION / "rgb").glob("*.png"))
    assert len(names) >= 10
    for name in names:
        rgb = np.asarray(Image.open(VALIDATION / "rgb" / f"{name}.png").convert("RGB"))
        label = np.asarray(Image.open(VALIDATION / "label" / f"{name}.png")).astype(np.float32)
        dec = decompose(rgb, layers=4, index_map=label)
        assert dec.info["completion"] == "regions" and dec.info["continuation"] == "harmonic"
        assert (dec.composite()[..., :3] == rgb).all(), name
        pixels = [
            LayerPixels(layer.rgba, layer.offset, 0, round(layer.invented_fraction * 1e9))
            for layer in dec.layers
        ]
        for n, layer in enumerate(pixels):  # LayerPixels counts: recomputed from the layer
            x, y = layer.offset
            h, w = layer.rgba.shape[:2]
            labels = dec.regions.labels[y : y + h, x : x + w]
            own = (labels >= 0) & (dec.regions.layer_of_region[labels] == n)
            invented = int(((layer.rgba[..., 3] > 0) & ~own).sum())
            pixels[n] = LayerPixels(layer.rgba, layer.offset, int(own.sum()), invented)
        _assert_flat_colours(pixels, dec.regions)
        assert sum(p.invented > 0 for p in pixels) >= 1, name


def test_harmonic_continuation_is_the_default_and_smooth_on_a_coarse_grid() -> None:
    """A large red disc (layer 1) under a green bar (layer 2) on white: the harmonic indicator
    solved on 8 x 8 blocks and read back bilinearly draws nearly the boundary of the full
    resolution solve, not a staircase of blocks, and only in the disc's own flat colour."""
    size = 256
    yy, xx = np.mgrid[0:size, 0:size]
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[...] = (*WHITE, 255)
    owner = np.zeros((size, size), int)
    disc = np.hypot(yy - 128, xx - 100) < 80
    rgba[disc] = (*RED, 255)
    owner[disc] = 1
    bar = (yy >= 100) & (yy < 160) & (xx >= 120) & (xx < 250)
    rgba[bar] = (*GREEN, 255)
    owner[bar] = 2
    regions = _region_map(owner, rgba)
    assert CompletionConfig().continuation == "harmonic"
    masks = {}
    for cells in (1_000_000, size * size // 64):
        config = CompletionConfig(max_indicator_cells=cells)
        layers = build_layers(owner, rgba, 3, config, regions)
        _check_invariants(layers, owner, rgba)
        _assert_flat_colours(layers, regions)
        red = _full(layers[1], owner.shape)
        masks[cells] = (red[..., 3] > 0) & bar
        assert masks[cells].any() and (red[masks[cells]][:, :3] == RED).all()
    fine, coarse = masks.values()
    assert np.count_nonzero(fine ^ coarse) < 0.03 * np.count_nonzero(fine | coarse)
    # the boundary of the coarse solve does not run along block edges only
    rows = coarse[100:160].sum(axis=1)
    assert len(set((rows % 8).tolist())) > 2


@pytest.mark.parametrize("mode", ["regions", "nearest"])
def test_completion_is_bounded_by_the_margin(mode: str) -> None:
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[...] = (*GREEN, 255)
    owner = np.ones((100, 100), int)
    rgba[0:4, 0:4] = (*RED, 255)
    owner[0:4, 0:4] = 0
    config = CompletionConfig(mode=mode, margin_fraction=0.5, margin_min=8)
    layers = build_layers(owner, rgba, 2, config, _region_map(owner, rgba))
    # a 4 px back layer may grow by at most max(8, 2) px beyond its box
    assert layers[0].rgba.shape[:2] == (12, 12)
    assert layers[0].invented == 12 * 12 - 16


def test_decompose_records_invented_fractions() -> None:
    rgba, owner = _scene()
    index = owner.astype(np.float32)
    for mode in ("regions", "nearest", "harmonic", "none"):
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
