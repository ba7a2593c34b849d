"""Core value types of a decomposition: ordered RGBA layers on a canvas.

Coordinates are pixels, origin top-left, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class RegionMap:
    """The image's flat-colour regions and the layer each belongs to.

    labels: int32 (H, W) region id in [0, count), -1 for pixels in no region (transparent).
    colours: uint8 (count, 3) flat colour of each region (its typical colour, anti-aliased rims
        excluded; `decomposer.completion.region_flat_colours`).
    layer_of_region: int (count,) the layer each region belongs to (0 = back).
    """

    labels: np.ndarray
    colours: np.ndarray
    layer_of_region: np.ndarray

    @property
    def count(self) -> int:
        """Number of regions."""
        return int(self.colours.shape[0])


@dataclass(frozen=True)
class LayerParts:
    """The flat-colour parts of a layer (`decomposer.parts.layer_parts`): one per flat colour
    of the regions it holds, visible or continued under the layers above.

    labels: int16 or int32 (h, w), aligned with the layer's rgba: the part index in [0, P) of
        every pixel the layer covers (alpha > 0), -1 elsewhere.
    colours: uint8 (P, 3) flat colour of each part.
    """

    labels: np.ndarray
    colours: np.ndarray

    @property
    def count(self) -> int:
        """Number of parts P."""
        return int(self.colours.shape[0])


@dataclass(frozen=True)
class Layer:
    """One output layer.

    name: display name, e.g. "Layer 1 (back)".
    rgba: uint8 (h, w, 4), straight (non-premultiplied) alpha, cropped to the layer's bounding box.
    offset: (x, y) of rgba's top-left pixel on the canvas.
    invented_fraction: share in [0, 1] of this layer's opaque pixels that were not visible in the
        input (amodal completion under the layers above).
    index: median predicted layer index of the layer's visible pixels (higher = front).
    """

    name: str
    rgba: np.ndarray
    offset: tuple[int, int]
    invented_fraction: float = 0.0
    index: float = 0.0

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(left, top, right, bottom), right/bottom exclusive, canvas pixels."""
        x, y = self.offset
        h, w = self.rgba.shape[:2]
        return (x, y, x + w, y + h)


@dataclass
class Decomposition:
    """Result of `decompose`: layers bottom -> top plus what produced them.

    layers: bottom (back) first.
    index_map: float32 (H, W) predicted layer index, higher = front.
    canvas_size: (width, height) in pixels.
    source_rgba: uint8 (H, W, 4) the validated input image (alpha 255 for RGB inputs).
    info: free-form metadata (layer count requested/obtained, stage timings, warnings).
    regions: the flat-colour regions the layers were built from (None when not known).

    Write one with `decomposer.save(dec, path)` (format from the suffix; `decomposer.writers`).
    """

    layers: list[Layer]
    index_map: np.ndarray
    canvas_size: tuple[int, int]
    source_rgba: np.ndarray
    info: dict = field(default_factory=dict)
    regions: RegionMap | None = None

    def composite(self) -> np.ndarray:
        """Layers blended bottom -> top with normal blending: uint8 (H, W, 4)."""
        from decomposer.composite import composite_layers

        return composite_layers(self.layers, self.canvas_size)
