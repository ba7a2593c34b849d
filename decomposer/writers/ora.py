"""OpenRaster (.ora) writer: Krita's and GIMP's native layered exchange format.

Layout (OpenRaster 0.0.5): `mimetype` first and STORED (uncompressed), `stack.xml` (first child
= topmost layer), one PNG per layer under `data/`, `mergedimage.png` (full composite) and
`Thumbnails/thumbnail.png` (at most 256 px on the long side).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image

from decomposer.atomic import atomic_path
from decomposer.types import Decomposition
from decomposer.writers.psd import INDEX_MAP_LAYER_NAME, ORIGINAL_LAYER_NAME, index_map_to_gray8

MIMETYPE = "image/openraster"
THUMBNAIL_MAX = 256


def png_bytes(image: Image.Image, compress_level: int = 1) -> bytes:
    """Encode a PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def drawable(rgba: np.ndarray) -> np.ndarray:
    """`rgba` itself, or one transparent pixel for an empty layer (PNG has no 0-size images)."""
    if rgba.shape[0] == 0 or rgba.shape[1] == 0:
        return np.zeros((1, 1, 4), dtype=np.uint8)
    return np.ascontiguousarray(rgba)


def _stack_xml(width: int, height: int, entries: list[dict[str, str]]) -> bytes:
    """stack.xml for `entries` given bottom -> top (written top first, as the spec orders)."""
    image = ET.Element("image", version="0.0.5", w=str(width), h=str(height))
    image.set("xres", "72")
    image.set("yres", "72")
    stack = ET.SubElement(image, "stack")
    for entry in reversed(entries):
        ET.SubElement(stack, "layer", entry)
    return ET.tostring(image, encoding="utf-8", xml_declaration=True)


def write_ora(dec: Decomposition, path: str | Path, *, extras: bool = True) -> Path:
    """Write `dec` as an OpenRaster file at `path` atomically; returns the path.

    Layers bottom -> top as in `dec.layers`, cropped to their bounding boxes at their offsets.
    With `extras`, the original image and the 8-bit index map (white = front) are added on top
    as hidden layers.
    """
    path = Path(path)
    width, height = dec.canvas_size
    pieces: list[tuple[str, np.ndarray, tuple[int, int], bool]] = [
        (layer.name, layer.rgba, layer.offset, True) for layer in dec.layers
    ]
    if extras:
        gray = index_map_to_gray8(dec.index_map)
        pieces.append((ORIGINAL_LAYER_NAME, dec.source_rgba, (0, 0), False))
        gray_rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
        pieces.append((INDEX_MAP_LAYER_NAME, gray_rgba, (0, 0), False))

    composite = Image.fromarray(np.asarray(dec.composite(), dtype=np.uint8), "RGBA")
    thumbnail = composite.copy()
    thumbnail.thumbnail((THUMBNAIL_MAX, THUMBNAIL_MAX), Image.Resampling.LANCZOS)

    entries: list[dict[str, str]] = []
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        for number, (name, rgba, (x, y), visible) in enumerate(pieces, start=1):
            src = f"data/layer{number:03d}.png"
            archive.writestr(src, png_bytes(Image.fromarray(drawable(rgba), "RGBA")))
            entries.append(
                {
                    "name": name,
                    "src": src,
                    "x": str(int(x)),
                    "y": str(int(y)),
                    "opacity": "1.0",
                    "visibility": "visible" if visible else "hidden",
                    "composite-op": "svg:src-over",
                }
            )
        archive.writestr(
            "stack.xml", _stack_xml(width, height, entries), compress_type=zipfile.ZIP_DEFLATED
        )
        archive.writestr("mergedimage.png", png_bytes(composite))
        archive.writestr("Thumbnails/thumbnail.png", png_bytes(thumbnail))
    return path
