"""Flat-colour regions: quantisation, connected components, specks, anti-aliased edges."""

from __future__ import annotations

import numpy as np
import pytest

from decomposer.regions import RegionConfig, segment_regions

RED, BLUE, WHITE = (220, 30, 30), (30, 40, 210), (250, 250, 250)


def _rgba(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    out = np.empty(rgb.shape[:2] + (4,), np.uint8)
    out[..., :3] = rgb
    out[..., 3] = 255 if alpha is None else alpha
    return out


def _two_discs(size: int = 80) -> np.ndarray:
    """White background, a red disc and a separate blue disc, anti-aliased (analytic coverage)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    rgb = np.empty((size, size, 3))
    rgb[:] = WHITE
    for (cy, cx), colour in (((25, 25), RED), ((55, 55), BLUE)):
        cover = np.clip(0.5 - (np.hypot(yy - cy, xx - cx) - 14), 0, 1)[..., None]
        rgb = np.asarray(colour) * cover + rgb * (1 - cover)
    return _rgba(np.rint(rgb).astype(np.uint8))


def test_flat_shapes_with_anti_aliased_edges_give_one_region_each() -> None:
    rgba = _two_discs()
    regions = segment_regions(rgba)
    assert regions.count == 3
    assert regions.labels.dtype == np.int32 and regions.labels.shape == (80, 80)
    assert regions.areas.sum() == 80 * 80
    centre_red, centre_blue, corner = (
        regions.labels[25, 25],
        regions.labels[55, 55],
        regions.labels[0, 0],
    )
    assert len({centre_red, centre_blue, corner}) == 3
    assert tuple(regions.median_rgb[centre_red]) == RED
    assert tuple(regions.median_rgb[centre_blue]) == BLUE
    assert tuple(regions.median_rgb[corner]) == WHITE


def test_edge_pixels_join_the_adjacent_region_closest_in_colour() -> None:
    rgba = _two_discs()
    regions = segment_regions(rgba)
    red_id, white_id = regions.labels[25, 25], regions.labels[0, 0]
    rgb = rgba[..., :3].astype(float)
    # pixels on the red disc's rim: mostly red ones go to red, mostly white ones to white
    ring = np.hypot(*(np.mgrid[0:80, 0:80] - 25)) - 14
    edge = (np.abs(ring) < 1.0) & ~np.isin(rgba[..., :3].reshape(-1, 3), [RED, WHITE]).all(
        axis=1
    ).reshape(80, 80)
    assert edge.sum() > 20
    d_red = np.linalg.norm(rgb - RED, axis=2)
    d_white = np.linalg.norm(rgb - WHITE, axis=2)
    near_red = edge & (d_red < d_white - 30)
    near_white = edge & (d_white < d_red - 30)
    assert near_red.any() and near_white.any()
    assert (regions.labels[near_red] == red_id).all()
    assert (regions.labels[near_white] == white_id).all()


def test_specks_are_merged_into_neighbours() -> None:
    rgb = np.zeros((60, 60, 3), np.uint8)
    rgb[:] = WHITE
    rgb[10:50, 10:50] = RED
    rgb[20, 20] = BLUE  # a 1-pixel speck inside red
    rgb[5:7, 40:42] = (0, 0, 0)  # a 4-pixel speck on white
    regions = segment_regions(_rgba(rgb))
    assert regions.count == 2
    assert regions.labels[20, 20] == regions.labels[30, 30]
    assert regions.labels[5, 40] == regions.labels[0, 0]
    # an explicit small threshold keeps them
    kept = segment_regions(_rgba(rgb), RegionConfig(min_area=1))
    assert kept.count == 4


def test_noise_in_a_flat_area_does_not_split_it() -> None:
    rng = np.random.default_rng(0)
    rgb = np.zeros((64, 64, 3), int)
    rgb[:] = (120, 160, 90)
    rgb[:, 32:] = (40, 40, 140)
    noisy = np.clip(rgb + rng.integers(-3, 4, rgb.shape), 0, 255).astype(np.uint8)
    regions = segment_regions(_rgba(noisy))
    assert regions.count == 2
    assert (regions.labels[:, :30] == regions.labels[0, 0]).all()
    assert (regions.labels[:, 34:] == regions.labels[0, 63]).all()


def test_separate_components_of_the_same_colour_are_separate_regions() -> None:
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:] = WHITE
    rgb[5:15, 5:15] = RED
    rgb[25:35, 25:35] = RED
    regions = segment_regions(_rgba(rgb))
    assert regions.count == 3
    assert regions.labels[10, 10] != regions.labels[30, 30]


def test_transparent_pixels_belong_to_no_region() -> None:
    rgb = np.zeros((30, 30, 3), np.uint8)
    rgb[:] = RED
    alpha = np.zeros((30, 30), np.uint8)
    alpha[5:25, 5:25] = 255
    alpha[5:25, 4] = 100  # partially transparent edge: still visible, still a member
    regions = segment_regions(_rgba(rgb, alpha))
    assert regions.count == 1
    assert (regions.labels[alpha == 0] == -1).all()
    assert (regions.labels[alpha > 0] == 0).all()


def test_island_specks_in_transparency_become_regions() -> None:
    rgb = np.zeros((30, 30, 3), np.uint8)
    rgb[:] = BLUE
    alpha = np.zeros((30, 30), np.uint8)
    alpha[2:20, 2:20] = 255
    alpha[26, 26] = 255  # a lone visible pixel, no large region next to it
    regions = segment_regions(_rgba(rgb, alpha))
    assert regions.count == 2
    assert regions.labels[26, 26] >= 0 and regions.labels[26, 26] != regions.labels[5, 5]


def test_invalid_input_raises() -> None:
    with pytest.raises(ValueError, match="uint8"):
        segment_regions(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="lab_step"):
        segment_regions(np.zeros((4, 4, 4), np.uint8), RegionConfig(lab_step=0))


def test_long_blend_strips_dissolve_but_thin_outlines_stay() -> None:
    rgb = np.zeros((60, 60, 3), np.uint8)
    rgb[:] = WHITE
    rgb[:, 30:] = RED
    rgb[:, 30] = (np.asarray(WHITE) + np.asarray(RED)) // 2  # 60 px long, 1 px blend strip
    regions = segment_regions(_rgba(rgb))
    assert regions.count == 2  # the strip is anti-aliasing, not a region
    outlined = rgb.copy()
    outlined[:, 30:32] = (0, 0, 0)  # a 2 px black outline between white and red
    regions = segment_regions(_rgba(outlined))
    assert regions.count == 3
    assert regions.labels[10, 30] == regions.labels[50, 31] != regions.labels[10, 20]


def test_speck_pixels_far_from_every_colour_do_not_splinter_a_large_image() -> None:
    """Anti-aliasing pixels with no close region wait only a few steps for one: waiting while any
    close speck pixel of the image still grew exhausted `max_speck_steps` on large images and
    left hundreds of stray island regions (576 on this drawing at 1024², against 89)."""
    from pathlib import Path

    from PIL import Image

    path = Path(__file__).resolve().parents[1] / "data" / "validation" / "rgb"
    name = "twemoji__1f468-1f3fd-200d-2764-fe0f-200d-1f468-1f3fb.png"
    with Image.open(path / name) as im:
        big = np.asarray(im.convert("RGBA").resize((1024, 1024), Image.Resampling.BILINEAR))
    assert segment_regions(np.ascontiguousarray(big)).count < 150
