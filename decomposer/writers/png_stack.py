"""PNG-stack writer: a folder of per-layer PNGs (bottom first) plus `manifest.json`.

Folder layout: `00_back.png`, `01_layer.png`, …, `NN_front.png` (each cropped to its bounding
box), `composite.png` (full canvas) and, with extras, `original.png` and `index_map.png`
(16-bit, 0 = back). `manifest.json` holds the canvas size, the order and each layer's file,
name and offset, so any tool can rebuild the stack.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from decomposer.atomic import atomic_dir
from decomposer.pixels import drawable, index_map_to_gray16
from decomposer.types import Decomposition, Layer
from decomposer.writers.base import Format, ReadBack, exact_check

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "illustrators-depth/png-stack"


def layer_file_names(count: int) -> list[str]:
    """File names bottom -> top: `00_back.png`, `01_layer.png`, …, `NN_front.png`."""
    digits = max(2, len(str(max(count - 1, 0))))
    names = []
    for position in range(count):
        role = "back" if position == 0 else "front" if position == count - 1 else "layer"
        names.append(f"{position:0{digits}d}_{role}.png")
    return names


def write_png_stack(dec: Decomposition, folder: str | Path, *, extras: bool = True) -> Path:
    """Write `dec` as a PNG stack into `folder` atomically (the whole folder is replaced)."""
    folder = Path(folder)
    width, height = dec.canvas_size
    files = layer_file_names(len(dec.layers))
    manifest: dict = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "canvas": {"width": int(width), "height": int(height)},
        "order": "bottom-to-top",
        "composite": "composite.png",
        "layers": [],
    }
    with atomic_dir(folder) as tmp:
        for file_name, layer in zip(files, dec.layers, strict=True):
            Image.fromarray(drawable(layer.rgba), "RGBA").save(tmp / file_name, compress_level=1)
            manifest["layers"].append(
                {
                    "file": file_name,
                    "name": layer.name,
                    "x": int(layer.offset[0]),
                    "y": int(layer.offset[1]),
                    "width": int(layer.rgba.shape[1]),
                    "height": int(layer.rgba.shape[0]),
                    "invented_fraction": float(layer.invented_fraction),
                    "index": float(layer.index),
                }
            )
        composite = np.asarray(dec.composite(), dtype=np.uint8)
        Image.fromarray(composite, "RGBA").save(tmp / "composite.png", compress_level=1)
        if extras:
            Image.fromarray(np.ascontiguousarray(dec.source_rgba), "RGBA").save(
                tmp / "original.png", compress_level=1
            )
            Image.fromarray(index_map_to_gray16(dec.index_map)).save(tmp / "index_map.png")
            manifest["original"] = "original.png"
            manifest["index_map"] = "index_map.png"
        (tmp / MANIFEST_NAME).write_text(
            json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return folder


def read_png_stack_layers(folder: Path) -> ReadBack:
    """Layers of a PNG-stack folder via its manifest.json, bottom -> top (all visible)."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    layers = []
    for entry in manifest["layers"]:
        rgba = np.asarray(Image.open(folder / entry["file"]).convert("RGBA"), dtype=np.uint8)
        if entry["width"] == 0 or entry["height"] == 0:
            rgba = rgba[:0, :0]
        layers.append(Layer(name=entry["name"], rgba=rgba, offset=(entry["x"], entry["y"])))
    canvas = manifest["canvas"]
    return ReadBack(layers, [True] * len(layers), (canvas["width"], canvas["height"]))


FORMAT = Format(
    name="png",
    title="PNG stack",
    description="a folder of PNGs (one per layer, bottom first) + manifest.json, for any tool",
    suffixes=(),
    media_type="inode/directory",
    write=write_png_stack,
    check=exact_check(read_png_stack_layers),
    read=read_png_stack_layers,
    folder=True,
    order=20,
)
