"""Layered PSD writer (psd-tools): RGBA document, RLE, layers bottom -> top, exact merged image.

Works around the psd-tools pitfalls listed in ../shared/reference/PEERS_AND_ECOSYSTEM.md §3.3:
Unicode names are set after creation (the creation path encodes names as MacRoman), the merged
image is our own exact composite instead of psd-tools' approximate re-composite, compression is
RLE everywhere, and the layer count is written negative so readers take the document's 4th
channel as the merged transparency rather than as an extra alpha channel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from psd_tools import PSDImage
from psd_tools.api.layers import PixelLayer
from psd_tools.constants import Compression

from decomposer.atomic import atomic_path
from decomposer.pixels import gray_to_rgba, index_map_to_gray8
from decomposer.types import Decomposition, Layer
from decomposer.writers.base import Format, ReadBack, exact_check

ORIGINAL_LAYER_NAME = "Original image"
INDEX_MAP_LAYER_NAME = "Layer index map (white = front)"


class _PrecompositedPSD(PSDImage):
    """A PSDImage whose merged image is the one it was created with (`frompil`).

    psd-tools re-composites the whole document in `save()` through its `_update_preview` hook;
    that is slow (seconds at 2048²) and only approximately equal to normal blending. Our
    composite is exact and already known, so the hook keeps the stored one.
    """

    def _update_preview(self) -> None:
        return None


def matte_on_white(rgba: np.ndarray) -> np.ndarray:
    """Photoshop's merged-image convention: colour composited over white where alpha > 0.

    rgba: uint8 (H, W, 4) straight alpha -> uint8 (H, W, 4), alpha unchanged;
    colour = round((c * a + 255 * (255 - a)) / 255) where 0 < a < 255.
    """
    out = rgba.copy()
    alpha = rgba[..., 3]
    partial = (alpha > 0) & (alpha < 255)
    if partial.any():
        a = alpha[partial].astype(np.uint16)[:, None]
        x = rgba[partial][:, :3].astype(np.uint16) * a + 255 * (255 - a) + 128
        out[partial, :3] = ((x + (x >> 8)) >> 8).astype(np.uint8)  # exact round(v / 255)
    return out


def _add_layer(
    psd: PSDImage, pixels: np.ndarray | Image.Image, name: str, offset: tuple[int, int]
) -> PixelLayer:
    """Append one RGBA layer on top: ASCII name at creation, the real (maybe Unicode) one after."""
    if isinstance(pixels, np.ndarray):
        pixels = Image.fromarray(np.ascontiguousarray(pixels), "RGBA")
    layer = psd.create_pixel_layer(
        pixels,
        name="Layer",
        top=int(offset[1]),
        left=int(offset[0]),
        compression=Compression.RLE,
    )
    layer.name = name
    return layer


def build_psd(dec: Decomposition, *, extras: bool = True) -> PSDImage:
    """The in-memory PSD document for `dec` (see `write_psd`)."""
    merged = matte_on_white(np.asarray(dec.composite(), dtype=np.uint8))
    psd = _PrecompositedPSD.frompil(Image.fromarray(merged, "RGBA"), compression=Compression.RLE)
    psd.background_color = None
    # Negative layer count = "the first alpha channel is the merged transparency" (PSD spec).
    psd._merged_alpha = True
    for layer in dec.layers:
        _add_layer(psd, layer.rgba, layer.name, layer.offset)
    if extras:
        original = _add_layer(psd, dec.source_rgba, ORIGINAL_LAYER_NAME, (0, 0))
        original.visible = False
        gray = gray_to_rgba(index_map_to_gray8(dec.index_map))
        index_layer = _add_layer(psd, gray, INDEX_MAP_LAYER_NAME, (0, 0))
        index_layer.visible = False
    return psd


def write_psd(dec: Decomposition, path: str | Path, *, extras: bool = True) -> Path:
    """Write `dec` as a layered PSD at `path` atomically; returns the path.

    Layers bottom -> top as in `dec.layers`, each cropped to its bounding box at its offset.
    With `extras`, two hidden layers go on top: the original image and the index map as 8-bit
    grayscale (white = front).
    """
    path = Path(path)
    psd = build_psd(dec, extras=extras)
    with atomic_path(path) as tmp:
        psd.save(tmp)
    return path


def read_psd_layers(path: Path) -> ReadBack:
    """Top-level pixel layers of a PSD via psd-tools, bottom -> top."""
    psd = PSDImage.open(path)
    layers: list[Layer] = []
    visible: list[bool] = []
    for item in psd:
        if item.is_group():
            raise ValueError(f"{path}: unexpected layer group {item.name!r}")
        image = item.topil()
        width, height = item.width, item.height
        if image is None:
            rgba = np.zeros((height, width, 4), np.uint8)
        else:
            rgba = np.asarray(image.convert("RGBA"), dtype=np.uint8)
        layers.append(Layer(name=item.name, rgba=rgba, offset=(item.left, item.top)))
        visible.append(bool(item.visible))
    return ReadBack(layers, visible, (psd.width, psd.height))


FORMAT = Format(
    name="psd",
    title="PSD",
    description="layered Photoshop document (Photoshop, Photopea, Krita, GIMP, Affinity)",
    suffixes=(".psd",),
    media_type="image/vnd.adobe.photoshop",
    write=write_psd,
    check=exact_check(read_psd_layers),
    read=read_psd_layers,
    order=0,
)
