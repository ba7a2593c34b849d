"""Labels of hand-written SVGs (tests/data/svg_labels, 32 x 32 user units rendered at 32 px, so one
unit is one pixel and crisp edges on integer coordinates are exact) equal hand-built arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.svg_clean import SvgError, clean_svg, parse_svg
from training.svg_labels import (
    LabelConfig,
    dejavu_fonts,
    dense_rank,
    expand_uses,
    label_svg,
    label_svg_bytes,
    paint_kinds,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "svg_labels"
CONFIG = LabelConfig(size=32)


def canvas() -> np.ndarray:
    return np.zeros((32, 32), dtype=np.uint16)


def label_of(name: str, config: LabelConfig = CONFIG) -> np.ndarray:
    result = label_svg(DATA / name, config)
    assert result.label.dtype == np.uint16 and result.label.shape == (32, 32)
    assert result.rgb.dtype == np.uint8 and result.rgb.shape == (32, 32, 3)
    return result.label


def test_overlap_later_piece_on_top_and_invisible_piece_dropped() -> None:
    expected = canvas()
    expected[2:18, 2:18] = 1
    expected[10:26, 10:26] = 2  # the tiny circle (r = 0.2 px) covers no pixel centre: no rank
    result = label_svg(DATA / "overlap.svg", CONFIG)
    np.testing.assert_array_equal(result.label, expected)
    assert result.pieces == 2 and result.visible_pieces == 2


def test_rgb_is_antialiased_render_on_white() -> None:
    result = label_svg(DATA / "overlap.svg", CONFIG)
    np.testing.assert_array_equal(result.rgb[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(result.rgb[5, 5], [0xE5, 0x39, 0x35])
    np.testing.assert_array_equal(result.rgb[20, 20], [0x1E, 0x88, 0xE5])


def test_stroke_is_a_separate_piece_above_its_fill() -> None:
    expected = canvas()
    expected[6:26, 6:26] = 2  # the 4 px stroke is centred on the rect's edge
    expected[10:22, 10:22] = 1  # the fill shows inside the stroke
    np.testing.assert_array_equal(label_of("stroke_above_fill.svg"), expected)


def test_paint_order_stroke_puts_the_fill_above() -> None:
    expected = canvas()
    expected[6:26, 6:26] = 1
    expected[8:24, 8:24] = 2  # inherited paint-order="stroke" from the group
    np.testing.assert_array_equal(label_of("paint_order.svg"), expected)


def test_use_instances_are_pieces_with_inherited_fill() -> None:
    expected = canvas()
    expected[2:10, 2:10] = 1
    expected[6:16, 6:16] = 2
    expected[12:20, 12:20] = 3
    np.testing.assert_array_equal(label_of("use.svg"), expected)


def test_clip_path_through_use_limits_the_piece() -> None:
    expected = canvas()
    expected[8:24, 8:24] = 1
    expected[20:30, 20:30] = 2
    np.testing.assert_array_equal(label_of("clip_path.svg"), expected)


@pytest.mark.skipif(not dejavu_fonts(), reason="DejaVu fonts are not installed")
def test_text_is_rendered_with_explicit_fonts() -> None:
    # DejaVu Sans Bold "H" at 28 px from x=3, baseline 26: stems x 6..10 and 19..23,
    # cap height rows 6..25, cross bar rows 13..16.
    expected = np.ones((32, 32), dtype=np.uint16)
    expected[6:26, 6:11] = 2
    expected[6:26, 19:24] = 2
    expected[13:17, 6:24] = 2
    result = label_svg(DATA / "text.svg", CONFIG)
    np.testing.assert_array_equal(result.label, expected)
    assert result.rgb[20, 8].max() < 60  # the glyph is drawn in the RGB too


def test_transparent_gradient_owns_only_where_alpha_is_at_least_ten_percent() -> None:
    # alpha at column c is 1 - (c + 0.5) / 32: >= 0.1 up to column 28
    expected = np.ones((32, 32), dtype=np.uint16)
    expected[8:24, 0:29] = 2
    np.testing.assert_array_equal(label_of("transparent_gradient.svg"), expected)


def test_non_square_keeps_aspect_and_pads_both_maps_identically() -> None:
    result = label_svg(DATA / "non_square.svg", CONFIG)
    expected = canvas()
    expected[8:24, 0:16] = 1
    expected[8:16, 16:32] = 2
    np.testing.assert_array_equal(result.label, expected)
    assert (result.rgb[:8] == 255).all() and (result.rgb[24:] == 255).all()
    np.testing.assert_array_equal(result.rgb[12, 4], [0xE5, 0x39, 0x35])


def test_legacy_file_gets_namespace_and_viewbox_from_points() -> None:
    expected = canvas()
    expected[0:16, 0:16] = 1
    expected[16:32, 16:32] = 2
    np.testing.assert_array_equal(label_of("legacy_pt.svg"), expected)
    root = parse_svg((DATA / "legacy_pt.svg").read_bytes())
    size = clean_svg(root)
    assert root.get("viewBox") == "0 0 24 24"
    assert size.width == pytest.approx(32.0)


def test_filters_stripped_and_group_opacity_thresholded() -> None:
    expected = canvas()
    expected[8:16, 8:16] = 1  # the blurred rect labels its geometry, not its blur
    expected[0:8, 20:32] = 2  # 50 % opacity owns; the 5 % group owns nothing
    result = label_svg(DATA / "filter_opacity.svg", CONFIG)
    np.testing.assert_array_equal(result.label, expected)
    assert result.rgb[4, 4].min() < 255  # the RGB keeps the blur


def test_squash_merges_consecutive_same_colour_pieces_switchable() -> None:
    squashed = canvas()
    squashed[2:20, 2:20] = 0
    squashed[2:14, 2:14] = 1
    squashed[8:20, 8:20] = 1
    squashed[16:28, 16:28] = 2
    result = label_svg(DATA / "squash.svg", CONFIG)
    np.testing.assert_array_equal(result.label, squashed)
    assert result.squashed == 1
    separate = canvas()
    separate[2:14, 2:14] = 1
    separate[8:20, 8:20] = 2
    separate[16:28, 16:28] = 3
    plain = label_svg(DATA / "squash.svg", LabelConfig(size=32, squash_same_colour=False))
    np.testing.assert_array_equal(plain.label, separate)
    assert plain.squashed == 0


def test_curation_flags_visible_non_consecutive_same_colour_overlap() -> None:
    assert label_svg(DATA / "ambiguous.svg", CONFIG).ambiguous
    assert not label_svg(DATA / "ambiguous.svg", LabelConfig(size=32, curate=False)).ambiguous
    # same colours but not touching where they overlap: the use.svg tiles are separated
    assert not label_svg(DATA / "use.svg", CONFIG).ambiguous


@pytest.mark.parametrize(
    "name",
    ["overlap.svg", "stroke_above_fill.svg", "paint_order.svg", "non_square.svg", "squash.svg"],
)
def test_recolour_path_matches_isolation_where_used(name: str) -> None:
    fast = label_svg(DATA / name, LabelConfig(size=32, method="auto"))
    reference = label_svg(DATA / name, CONFIG)
    assert fast.method == "recolour"
    np.testing.assert_array_equal(fast.label, reference.label)
    np.testing.assert_array_equal(fast.rgb, reference.rgb)


def test_piece_covering_no_pixel_does_not_split_a_same_colour_run() -> None:
    expected = canvas()
    expected[2:14, 2:14] = 1
    expected[8:20, 8:20] = 1
    for method in ("isolation", "auto"):
        config = LabelConfig(size=32, curate=False, method=method)
        result = label_svg(DATA / "squash_unseen_piece.svg", config)
        np.testing.assert_array_equal(result.label, expected)
        assert result.method == "isolation"  # one recolour render cannot tell, so auto refuses


@pytest.mark.parametrize("name", ["transparent_gradient.svg", "clip_path.svg", "text.svg"])
def test_recolour_path_refused_where_it_would_differ(name: str) -> None:
    assert label_svg(DATA / name, LabelConfig(size=32, method="auto")).method == "isolation"
    with pytest.raises(SvgError, match=name):
        label_svg(DATA / name, LabelConfig(size=32, method="recolour"))


def test_larger_size_scales_geometry() -> None:
    result = label_svg(DATA / "overlap.svg", LabelConfig(size=64))
    expected = np.zeros((64, 64), dtype=np.uint16)
    expected[4:36, 4:36] = 1
    expected[20:52, 20:52] = 2
    np.testing.assert_array_equal(result.label, expected)


def test_paint_kinds_and_use_expansion() -> None:
    root = parse_svg(
        b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4">'
        b'<defs><path id="p" d="M0 0h1v1z"/></defs>'
        b'<use href="#p"/><path d="M0 0h2v2z" style="paint-order: stroke fill"/></svg>'
    )
    assert expand_uses(root) == 1
    paths = root.findall(".//{http://www.w3.org/2000/svg}path")
    assert len(paths) == 3
    assert paint_kinds(paths[-1]) == ["stroke", "fill"]
    assert paint_kinds(paths[0]) == ["fill", "stroke"]


def test_dense_rank_keeps_zero_and_closes_gaps() -> None:
    raw = np.array([[0, 5, 5], [9, 2, 0]])
    np.testing.assert_array_equal(dense_rank(raw), [[0, 2, 2], [3, 1, 0]])


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"plain text, no markup", "not valid XML"),
        (b'<html xmlns="http://www.w3.org/1999/xhtml"/>', "root element is not <svg>"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" width="100%"/>', "no viewBox"),
    ],
)
def test_bad_svg_raises_one_line_error_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(SvgError, match=problem) as info:
        label_svg_bytes(data, CONFIG, "bad.svg")
    assert str(info.value).startswith("bad.svg: ") and "\n" not in str(info.value)


def test_missing_file_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(SvgError, match="missing.svg: cannot read"):
        label_svg(tmp_path / "missing.svg", CONFIG)
