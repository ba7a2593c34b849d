"""Synthetic scenes: exact labels on hand-built scenes, determinism, and every feature present."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from training.synthetic import (
    Piece,
    Scene,
    SyntheticConfig,
    render_scene,
    sample_scene,
    synthetic_sample,
)

RED, BLUE, BLACK = (230, 57, 53), (30, 136, 229), (20, 20, 20)


def rect(x0: float, y0: float, x1: float, y1: float, colour, **kw) -> Piece:
    return Piece("rect", ((x0, y0), (x1, y1)), colour, shape="rect", **kw)


def test_hand_built_overlap_is_exact() -> None:
    scene = Scene(16, (rect(2, 2, 9, 9, RED), rect(6, 6, 13, 13, BLUE)))
    rgb, label = render_scene(scene, supersample=1)
    expected = np.zeros((16, 16), dtype=np.uint16)
    expected[2:10, 2:10] = 1  # PIL rectangles include their far edge
    expected[6:14, 6:14] = 2
    np.testing.assert_array_equal(label, expected)
    np.testing.assert_array_equal(rgb[3, 3], RED)
    np.testing.assert_array_equal(rgb[12, 12], BLUE)
    np.testing.assert_array_equal(rgb[0, 0], [255, 255, 255])


def test_outline_above_fill_and_full_background() -> None:
    background = Piece("background", ((0, 0), (16, 16)), (250, 240, 200))
    fill = rect(4, 4, 11, 11, RED)
    outline = dataclasses.replace(fill, kind="outline", colour=BLACK, width=1)
    _, label = render_scene(Scene(16, (background, fill, outline)), supersample=1)
    expected = np.ones((16, 16), dtype=np.uint16)
    expected[4:12, 4:12] = 3
    expected[5:11, 5:11] = 2
    np.testing.assert_array_equal(label, expected)


def test_mirrored_part_is_one_piece_drawn_twice() -> None:
    face = rect(0, 0, 15, 15, RED)
    eye = dataclasses.replace(rect(3, 4, 5, 6, BLUE), mirror=8.0)  # copy at x 11..13
    _, label = render_scene(Scene(16, (face, eye)), supersample=1)
    expected = np.ones((16, 16), dtype=np.uint16)
    expected[4:7, 3:6] = 2
    expected[4:7, 11:14] = 2
    np.testing.assert_array_equal(label, expected)


def test_fading_gradient_owns_where_alpha_at_least_ten_percent() -> None:
    fade = rect(0, 0, 31, 3, RED, colour2=RED, gradient="linear", fade=True)
    _, label = render_scene(Scene(32, (fade,)), supersample=1)
    # t = (x + 0.5) / 31 along the box; alpha = 1 - t >= 0.1 while x + 0.5 <= 27.9
    expected = np.zeros((32, 32), dtype=np.uint16)
    expected[0:4, 0:28] = 1
    np.testing.assert_array_equal(label, expected)


def test_texture_changes_pixels_not_labels() -> None:
    scene = Scene(32, (rect(4, 4, 27, 27, BLUE),))
    textured = dataclasses.replace(scene, texture="paper", texture_strength=0.1)
    rgb_plain, label_plain = render_scene(scene)
    rgb_tex, label_tex = render_scene(textured)
    np.testing.assert_array_equal(label_plain, label_tex)
    assert np.abs(rgb_plain.astype(int) - rgb_tex.astype(int)).max() > 0


@pytest.mark.parametrize("seed", range(6))
def test_flat_scenes_label_regions_are_single_pieces(seed: int) -> None:
    config = SyntheticConfig(
        size=64,
        supersample=1,
        p_gradient=0.0,
        p_translucent=0.0,
        p_texture=0.0,
        p_text=0.0,
    )
    rgb, label = synthetic_sample(seed, config)
    values = np.unique(label)
    np.testing.assert_array_equal(values[values > 0], np.arange(1, values.max() + 1))
    for k in values[values > 0]:
        colours = np.unique(rgb[label == k], axis=0)
        assert len(colours) == 1, f"label {k} spans {len(colours)} colours"
    assert (rgb[label == 0] == 255).all()


def test_seeded_and_deterministic() -> None:
    config = SyntheticConfig(size=64)
    a_rgb, a_label = synthetic_sample(3, config)
    b_rgb, b_label = synthetic_sample(3, config)
    c_rgb, _ = synthetic_sample(4, config)
    np.testing.assert_array_equal(a_rgb, b_rgb)
    np.testing.assert_array_equal(a_label, b_label)
    assert not np.array_equal(a_rgb, c_rgb)
    assert a_rgb.shape == (64, 64, 3) and a_label.dtype == np.uint16


def test_generator_covers_every_feature() -> None:
    config = SyntheticConfig(size=64)
    kinds: Counter[str] = Counter()
    gradients: Counter[str] = Counter()
    textures: Counter[str] = Counter()
    fades = 0
    mirrored = 0
    for seed in range(60):
        scene = sample_scene(seed, config)
        assert config.min_pieces <= len(scene.pieces) <= config.max_pieces
        kinds.update(p.kind for p in scene.pieces)
        gradients.update(p.gradient for p in scene.pieces)
        fades += sum(p.fade for p in scene.pieces)
        mirrored += sum(p.mirror is not None for p in scene.pieces)
        textures[scene.texture] += 1
    assert {"background", "stroke", "outline", "text", "rect", "ellipse", "polygon"} <= set(kinds)
    assert {"linear", "radial"} <= set(gradients) and fades > 0 and mirrored > 0
    assert {"paper", "canvas", "none"} <= set(textures)


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="min_pieces"):
        SyntheticConfig(min_pieces=5, max_pieces=2)
