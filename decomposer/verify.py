"""Re-read a written decomposition (PSD, ORA or PNG stack) and check that it recomposes the input.

Exactness rule (issue 3): the visible layers composited bottom -> top with normal blending must
equal the input's alpha everywhere and its colour wherever alpha > 0 (for RGB inputs alpha is 255
everywhere, so that is bit-exact equality).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
from PIL import Image
from psd_tools import PSDImage

from decomposer.composite import composite_layers
from decomposer.types import Layer
from decomposer.writers import format_for_path
from decomposer.writers.png_stack import MANIFEST_NAME


@dataclass(frozen=True)
class ReadBack:
    """Layers read back from a written file, bottom -> top.

    layers: every layer in the file, hidden ones included.
    visible: one flag per layer.
    canvas_size: (width, height) in pixels.
    """

    layers: list[Layer]
    visible: list[bool]
    canvas_size: tuple[int, int]

    def visible_layers(self) -> list[Layer]:
        """The layers that take part in the composite."""
        return [layer for layer, shown in zip(self.layers, self.visible, strict=True) if shown]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of `verify_output`.

    ok: the recomposition matches the input under the exactness rule.
    mismatched_pixels: pixels that differ; max_difference: largest channel difference (0-255).
    """

    path: Path
    ok: bool
    layers: int
    mismatched_pixels: int
    max_difference: int

    @property
    def message(self) -> str:
        """One line for users."""
        if self.ok:
            return f"{self.path}: verified, {self.layers} layers recompose the input exactly"
        return (
            f"{self.path}: verification failed, {self.mismatched_pixels} pixels differ "
            f"(max difference {self.max_difference}/255)"
        )


def _rgba(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGBA"), dtype=np.uint8)


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
        rgba = np.zeros((height, width, 4), np.uint8) if image is None else _rgba(image)
        layers.append(Layer(name=item.name, rgba=rgba, offset=(item.left, item.top)))
        visible.append(bool(item.visible))
    return ReadBack(layers, visible, (psd.width, psd.height))


def read_ora_layers(path: Path) -> ReadBack:
    """Layers of an OpenRaster file (zip + stack.xml + PNGs), bottom -> top."""
    with zipfile.ZipFile(path) as archive:
        root = ET.fromstring(archive.read("stack.xml"))
        layers: list[Layer] = []
        visible: list[bool] = []
        for node in reversed(root.find("stack").findall("layer")):
            with archive.open(node.get("src")) as handle:
                rgba = _rgba(Image.open(handle))
            offset = (int(node.get("x", "0")), int(node.get("y", "0")))
            layers.append(Layer(name=node.get("name", ""), rgba=rgba, offset=offset))
            visible.append(node.get("visibility", "visible") != "hidden")
    return ReadBack(layers, visible, (int(root.get("w")), int(root.get("h"))))


def read_png_stack_layers(folder: Path) -> ReadBack:
    """Layers of a PNG-stack folder via its manifest.json, bottom -> top (all visible)."""
    manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    layers = []
    for entry in manifest["layers"]:
        rgba = _rgba(Image.open(folder / entry["file"]))
        if entry["width"] == 0 or entry["height"] == 0:
            rgba = rgba[:0, :0]
        layers.append(Layer(name=entry["name"], rgba=rgba, offset=(entry["x"], entry["y"])))
    canvas = manifest["canvas"]
    return ReadBack(layers, [True] * len(layers), (canvas["width"], canvas["height"]))


def read_layers(path: str | Path, format: str | None = None) -> ReadBack:
    """Read back a written decomposition; format from the suffix unless given."""
    path = Path(path)
    chosen = format_for_path(path, format)
    if chosen == "psd":
        return read_psd_layers(path)
    if chosen == "ora":
        return read_ora_layers(path)
    return read_png_stack_layers(path)


def recomposition_matches(composite: np.ndarray, source_rgba: np.ndarray) -> tuple[int, int]:
    """(mismatched pixels, max channel difference) under the exactness rule; (0, 0) = exact."""
    if composite.shape != source_rgba.shape:
        return int(source_rgba.shape[0] * source_rgba.shape[1]), 255
    difference = np.abs(composite.astype(np.int16) - source_rgba.astype(np.int16))
    difference[..., :3] *= (source_rgba[..., 3:4] > 0).astype(np.int16)
    bad = difference.max(axis=2)
    return int(np.count_nonzero(bad)), int(bad.max(initial=0))


def verify_output(
    path: str | Path, source_rgba: np.ndarray, format: str | None = None
) -> VerifyResult:
    """Re-read `path` and check its visible layers recompose `source_rgba` (uint8 (H, W, 4))."""
    path = Path(path)
    back = read_layers(path, format)
    shown = back.visible_layers()
    composite = composite_layers(shown, back.canvas_size)
    mismatched, worst = recomposition_matches(np.asarray(composite), np.asarray(source_rgba))
    return VerifyResult(path, mismatched == 0, len(shown), mismatched, worst)
