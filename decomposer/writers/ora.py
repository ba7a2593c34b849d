"""OpenRaster (.ora) writer and reader: the open layered exchange format.

Read by Krita and MyPaint natively and by GIMP 3.0 (its bundled OpenRaster plug-in); GIMP 2.10
reads it only through its Python 2 OpenRaster plug-in, which Debian 12's GIMP does not ship.

Layout (OpenRaster 0.0.5): `mimetype` first and STORED (uncompressed), `stack.xml` (first child
= topmost layer), one PNG per layer under `data/`, `mergedimage.png` (full composite) and
`Thumbnails/thumbnail.png` (at most 256 px on the long side).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image

from decomposer.atomic import atomic_path
from decomposer.pixels import drawable, gray_to_rgba, index_map_to_gray8, png_bytes
from decomposer.types import Decomposition, Layer
from decomposer.writers.base import Format, ReadBack, exact_check
from decomposer.writers.psd import INDEX_MAP_LAYER_NAME, ORIGINAL_LAYER_NAME

MIMETYPE = "image/openraster"
THUMBNAIL_MAX = 256


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
        pieces.append((ORIGINAL_LAYER_NAME, dec.source_rgba, (0, 0), False))
        gray_rgba = gray_to_rgba(index_map_to_gray8(dec.index_map))
        pieces.append((INDEX_MAP_LAYER_NAME, gray_rgba, (0, 0), False))

    composite = Image.fromarray(np.asarray(dec.composite(), dtype=np.uint8), "RGBA")
    thumbnail = composite.copy()
    thumbnail.thumbnail((THUMBNAIL_MAX, THUMBNAIL_MAX), Image.Resampling.LANCZOS)

    entries: list[dict[str, str]] = []
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
        for number, (name, rgba, (x, y), visible) in enumerate(pieces, start=1):
            src = f"data/layer{number:03d}.png"
            archive.writestr(src, png_bytes(drawable(rgba), "RGBA"))
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


def read_ora_layers(path: Path) -> ReadBack:
    """Layers of an OpenRaster file (zip + stack.xml + PNGs), bottom -> top."""
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("stack.xml"))
        layers: list[Layer] = []
        visible: list[bool] = []
        for node in reversed(root.find("stack").findall("layer")):
            with archive.open(node.get("src")) as handle:
                rgba = np.asarray(Image.open(handle).convert("RGBA"), dtype=np.uint8)
            offset = (int(node.get("x", "0")), int(node.get("y", "0")))
            layers.append(Layer(name=node.get("name", ""), rgba=rgba, offset=offset))
            visible.append(node.get("visibility", "visible") != "hidden")
    return ReadBack(layers, visible, (int(root.get("w")), int(root.get("h"))))


FORMAT = Format(
    name="ora",
    title="ORA",
    description="OpenRaster (Krita, MyPaint, GIMP 3.0; GIMP 2.10 only with its Python 2 "
    "OpenRaster plug-in, which Debian 12's GIMP lacks)",
    suffixes=(".ora",),
    media_type=MIMETYPE,
    write=write_ora,
    check=exact_check(read_ora_layers),
    read=read_ora_layers,
    order=10,
)
