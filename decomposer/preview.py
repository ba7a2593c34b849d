"""Render a decomposition side by side for people to look at: input, index map, each layer.

Pure functions: arrays in, an RGB uint8 image (H, W, 3) out; `write_preview` saves one as PNG
(atomically), for `decompose art.png --preview sheet.png`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from decomposer.atomic import atomic_path
from decomposer.pixels import png_bytes
from decomposer.types import Decomposition

_LABEL_HEIGHT = 14  # px of caption strip above each tile
_GAP = 4  # px between tiles
_BACKGROUND = (255, 255, 255)


def checkerboard(height: int, width: int, cell: int = 8) -> np.ndarray:
    """Light-grey transparency checkerboard: uint8 (height, width, 3)."""
    yy, xx = np.indices((height, width))
    light = ((yy // cell + xx // cell) % 2).astype(bool)
    out = np.empty((height, width, 3), np.uint8)
    out[light] = 235
    out[~light] = 200
    return out


def over_checkerboard(rgba: np.ndarray) -> np.ndarray:
    """Straight-alpha uint8 (H, W, 4) composited over a checkerboard -> uint8 (H, W, 3)."""
    h, w = rgba.shape[:2]
    base = checkerboard(h, w).astype(np.float32)
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    mixed = rgba[..., :3].astype(np.float32) * alpha + base * (1.0 - alpha)
    return np.round(mixed).astype(np.uint8)


def colorize_index_map(index_map: np.ndarray) -> np.ndarray:
    """float32 (H, W), higher = front -> uint8 (H, W, 3): dark blue (back) to yellow (front)."""
    lo, hi = float(np.min(index_map)), float(np.max(index_map))
    t = (index_map - lo) / (hi - lo) if hi > lo else np.zeros_like(index_map)
    stops = np.array(
        [[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64], [240, 249, 33]], np.float32
    )
    pos = t * (len(stops) - 1)
    i = np.clip(pos.astype(np.int64), 0, len(stops) - 2)
    frac = (pos - i)[..., None]
    rgb = stops[i] * (1.0 - frac) + stops[i + 1] * frac
    return np.round(rgb).astype(np.uint8)


def layer_on_canvas(dec: Decomposition, k: int) -> np.ndarray:
    """Layer k (0 = back) placed on a transparent canvas: uint8 (H, W, 4)."""
    width, height = dec.canvas_size
    canvas = np.zeros((height, width, 4), np.uint8)
    layer = dec.layers[k]
    x, y = layer.offset
    h, w = layer.rgba.shape[:2]
    canvas[y : y + h, x : x + w] = layer.rgba
    return canvas


def _fit(tile: np.ndarray, size: int) -> np.ndarray:
    """Scale an RGB tile so its longer side is `size` px (aspect kept)."""
    h, w = tile.shape[:2]
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(tile).resize(new, Image.Resampling.LANCZOS))


def _row(tiles: Sequence[tuple[str, np.ndarray]], size: int) -> Image.Image:
    width = len(tiles) * (size + _GAP) - _GAP
    row = Image.new("RGB", (width, size + _LABEL_HEIGHT), _BACKGROUND)
    draw = ImageDraw.Draw(row)
    for n, (caption, tile) in enumerate(tiles):
        fitted = _fit(tile, size)
        x0 = n * (size + _GAP)
        row.paste(Image.fromarray(fitted), (x0, _LABEL_HEIGHT))
        draw.text((x0 + 2, 1), caption[:24], fill=(0, 0, 0))
    return row


def render_preview(dec: Decomposition, *, tile_size: int = 192) -> np.ndarray:
    """One row: input, colourised index map, then every layer (back -> front) on a checkerboard.

    Returns uint8 (tile_size + caption, width, 3).
    """
    tiles = [
        ("input", over_checkerboard(dec.source_rgba)),
        ("index map (front=yellow)", colorize_index_map(dec.index_map)),
    ]
    tiles += [
        (layer.name, over_checkerboard(layer_on_canvas(dec, k)))
        for k, layer in enumerate(dec.layers)
    ]
    return np.asarray(_row(tiles, tile_size))


def contact_sheet(decompositions: Sequence[Decomposition], *, tile_size: int = 160) -> np.ndarray:
    """Rows of :func:`render_preview`, one per decomposition, stacked: uint8 (H, W, 3)."""
    if not decompositions:
        raise ValueError("contact_sheet needs at least one decomposition")
    rows = [render_preview(d, tile_size=tile_size) for d in decompositions]
    width = max(r.shape[1] for r in rows)
    height = sum(r.shape[0] for r in rows) + _GAP * (len(rows) - 1)
    sheet = np.full((height, width, 3), 255, np.uint8)
    y = 0
    for r in rows:
        sheet[y : y + r.shape[0], : r.shape[1]] = r
        y += r.shape[0] + _GAP
    return sheet


def write_preview(dec: Decomposition, path: str | Path, *, tile_size: int = 192) -> Path:
    """Write `render_preview(dec)` as a PNG at `path` atomically; returns the path."""
    path = Path(path)
    data = png_bytes(render_preview(dec, tile_size=tile_size), "RGB", level=6)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path
