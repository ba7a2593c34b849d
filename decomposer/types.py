"""Core value types of a decomposition: ordered RGBA layers on a canvas.

Coordinates are pixels, origin top-left, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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

    Write one with `decomposer.save(dec, path)` (format from the suffix; `decomposer.writers`).
    """

    layers: list[Layer]
    index_map: np.ndarray
    canvas_size: tuple[int, int]
    source_rgba: np.ndarray
    info: dict = field(default_factory=dict)

    def composite(self) -> np.ndarray:
        """Layers blended bottom -> top with normal blending: uint8 (H, W, 4)."""
        from decomposer.composite import composite_layers

        return composite_layers(self.layers, self.canvas_size)
