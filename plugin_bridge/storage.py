"""Finished results kept on disk, not in memory.

When a job finishes, `store_result` writes its decomposition into the job's folder and the job
keeps only a `StoredResult` (names, boxes, file paths: a few hundred bytes per layer):

    JOB/source            the validated upload (the "original" of PSD/ORA extras is decoded from it)
    JOB/layers/I.png      layer I (0 = bottom), 8-bit RGBA, cropped to its bbox (served as is)
    JOB/index_map.png     8-bit preview of the index map (served as is)
    JOB/index_map.npy     float32 (H, W) index map, higher = front (for PSD/ORA/... writers)
    JOB/regions.npz       the flat-colour region map (labels, colours, layer of each region), so
                          the SVG writer traces the same parts as for a fresh decomposition

`StoredResult.load()` rebuilds the full `Decomposition` from those files when a document format
(PSD, ORA, SVG, ...) is first asked for; `StoredResult.save(path, format)` writes one through
the format registry (`decomposer.writers.save`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decomposer.types import Decomposition, Layer, RegionMap
from decomposer.writers import save
from plugin_bridge.results import index_map_preview, json_safe, png_bytes

SOURCE_NAME = "source"
REGIONS_NAME = "regions.npz"


@dataclass(frozen=True)
class StoredLayer:
    """One stored layer: what the manifest says about it (pixels are in `png`)."""

    name: str
    offset: tuple[int, int]
    size: tuple[int, int]
    invented_fraction: float
    index: float
    png: Path

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), right/bottom exclusive, canvas pixels."""
        x, y = self.offset
        w, h = self.size
        return (x, y, x + w, y + h)


@dataclass(frozen=True)
class StoredResult:
    """A finished decomposition on disk (see the module docs for the folder layout).

    canvas_size: (width, height) pixels. layers: bottom -> top. info: JSON-safe metadata.
    """

    folder: Path
    canvas_size: tuple[int, int]
    layers: tuple[StoredLayer, ...]
    info: dict[str, Any]

    @property
    def index_map_png(self) -> Path:
        """The 8-bit index-map preview (white = front)."""
        return self.folder / "index_map.png"

    @property
    def source(self) -> Path:
        """The uploaded image file."""
        return self.folder / SOURCE_NAME

    def load(self) -> Decomposition:
        """The full Decomposition again: layers from their PNGs, index map, source pixels."""
        from decomposer.image_io import load_image

        width, height = self.canvas_size
        layers = []
        for stored in self.layers:
            # our own 8-bit RGBA PNGs; load_image reads them exactly, whatever their size
            rgba = load_image(stored.png, max_pixels=max(stored.size[0] * stored.size[1], 1)).rgba
            layers.append(
                Layer(
                    name=stored.name,
                    rgba=rgba,
                    offset=stored.offset,
                    invented_fraction=stored.invented_fraction,
                    index=stored.index,
                )
            )
        index_map = np.load(self.folder / "index_map.npy")
        source = load_image(self.source, max_pixels=max(width * height, 1)).rgba
        return Decomposition(
            layers=layers,
            index_map=index_map,
            canvas_size=(width, height),
            source_rgba=source,
            info=dict(self.info),
            regions=_load_regions(self.folder / REGIONS_NAME),
        )

    def save(self, path: str | Path, format: str | None = None, **options: Any) -> Path:
        """Write the result to `path` atomically (format from the suffix, see
        `decomposer.writers.save`)."""
        return save(self.load(), path, format, **options)


def _load_regions(path: Path) -> RegionMap | None:
    if not path.is_file():
        return None
    with np.load(path) as data:
        return RegionMap(
            labels=data["labels"], colours=data["colours"], layer_of_region=data["layer_of_region"]
        )


def store_result(dec: Decomposition, folder: Path, source: Path) -> StoredResult:
    """Write `dec` into the existing `folder` and move the upload file `source` there.

    Returns the StoredResult; after this the caller may drop `dec`.
    """
    layer_folder = folder / "layers"
    layer_folder.mkdir(mode=0o700, exist_ok=True)
    stored = []
    for i, layer in enumerate(dec.layers):
        png = layer_folder / f"{i}.png"
        png.write_bytes(png_bytes(layer.rgba, "RGBA"))
        h, w = layer.rgba.shape[:2]
        stored.append(
            StoredLayer(
                name=layer.name,
                offset=(int(layer.offset[0]), int(layer.offset[1])),
                size=(int(w), int(h)),
                invented_fraction=float(layer.invented_fraction),
                index=float(layer.index),
                png=png,
            )
        )
    (folder / "index_map.png").write_bytes(index_map_preview(dec.index_map))
    np.save(folder / "index_map.npy", np.asarray(dec.index_map, dtype=np.float32))
    if dec.regions is not None:  # the flat-colour parts the SVG writer traces
        np.savez(
            folder / REGIONS_NAME,
            labels=dec.regions.labels,
            colours=dec.regions.colours,
            layer_of_region=dec.regions.layer_of_region,
        )
    os.replace(source, folder / SOURCE_NAME)
    width, height = dec.canvas_size
    return StoredResult(
        folder=folder,
        canvas_size=(int(width), int(height)),
        layers=tuple(stored),
        info=json_safe(dec.info),
    )


__all__ = ["StoredLayer", "StoredResult", "store_result"]
