"""decomposer.preview: what a person sees when checking a decomposition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from decomposer import decompose
from decomposer.preview import (
    colorize_index_map,
    contact_sheet,
    layer_on_canvas,
    over_checkerboard,
    render_preview,
)


def _art() -> tuple[np.ndarray, np.ndarray]:
    """Three nested flat rectangles and an index map that puts the inner ones in front."""
    rgb = np.full((60, 80, 3), 250, np.uint8)
    index = np.zeros((60, 80), np.float32)
    rgb[10:50, 10:70] = (200, 40, 40)
    index[10:50, 10:70] = 1.0
    rgb[20:40, 30:50] = (30, 60, 200)
    index[20:40, 30:50] = 2.0
    return rgb, index


def test_layer_on_canvas_places_layer_at_its_offset() -> None:
    rgb, index = _art()
    dec = decompose(rgb, layers=3, index_map=index)
    front = layer_on_canvas(dec, len(dec.layers) - 1)
    assert front.shape == (60, 80, 4)
    opaque = front[..., 3] > 0
    ys, xs = np.nonzero(opaque)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (20, 39, 30, 49)
    assert (front[opaque][:, :3] == (30, 60, 200)).all()


def test_over_checkerboard_keeps_opaque_pixels_and_shows_board_under_transparent() -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[:8] = (10, 20, 30, 255)
    out = over_checkerboard(rgba)
    assert (out[:8] == (10, 20, 30)).all()
    assert set(np.unique(out[8:])) == {200, 235}


def test_colorize_index_map_runs_back_dark_to_front_bright() -> None:
    ramp = np.linspace(0.0, 1.0, 50, dtype=np.float32)[None, :].repeat(4, axis=0)
    rgb = colorize_index_map(ramp)
    brightness = rgb.astype(int).sum(axis=-1)[0]
    assert brightness[0] < brightness[-1]
    assert (colorize_index_map(np.zeros((3, 3), np.float32)) == rgb[0, 0]).all()


def test_render_preview_has_one_tile_per_layer_plus_input_and_map() -> None:
    rgb, index = _art()
    dec = decompose(rgb, layers=3, index_map=index)
    row = render_preview(dec, tile_size=64)
    assert row.dtype == np.uint8 and row.ndim == 3
    tiles = 2 + len(dec.layers)
    assert row.shape[1] == tiles * 64 + (tiles - 1) * 4


def test_contact_sheet_stacks_rows_and_rejects_empty() -> None:
    rgb, index = _art()
    dec = decompose(rgb, layers=2, index_map=index)
    sheet = contact_sheet([dec, dec], tile_size=48)
    single = render_preview(dec, tile_size=48)
    assert sheet.shape[0] == 2 * single.shape[0] + 4
    with pytest.raises(ValueError, match="at least one"):
        contact_sheet([])


def test_cli_preview_writes_a_contact_sheet(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from PIL import Image

    from decomposer.cli import main

    source = tmp_path / "art.png"
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:] = (30, 80, 160)
    rgb[10:30, 10:40] = (240, 200, 30)
    Image.fromarray(rgb).save(source)
    sheet = tmp_path / "sheet.png"
    args = [str(source), "-o", str(tmp_path / "art.psd"), "--model", "random:tiny", "--layers", "2"]
    result = CliRunner().invoke(main, [*args, "--preview", str(sheet)])
    assert result.exit_code == 0, result.output
    image = np.asarray(Image.open(sheet).convert("RGB"))
    assert image.shape[1] > 3 * image.shape[0]  # input, index map, 2 layers side by side
    bad = CliRunner().invoke(main, [*args, "--preview", str(tmp_path / "sheet.jpg")])
    assert bad.exit_code == 2 and "--preview must end in .png" in bad.output
