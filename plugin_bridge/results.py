"""Turning a finished job into responses: the manifest, layer PNGs, the index-map preview,
and the list of document formats (from the format registry, `decomposer.writers`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from decomposer.pixels import drawable, index_map_to_gray8, png_bytes
from decomposer.writers import file_formats
from plugin_bridge.jobs import Job


def layer_png(rgba: np.ndarray) -> bytes:
    """A layer's straight-alpha RGBA uint8 (h, w, 4) pixels as PNG bytes."""
    return png_bytes(drawable(rgba), "RGBA", level=3)


def index_map_preview(index_map: np.ndarray) -> bytes:
    """8-bit grayscale PNG of an index map, normalised to its own range (white = front)."""
    return png_bytes(index_map_to_gray8(index_map), "L", level=3)


def formats_json() -> list[dict[str, str]]:
    """The downloadable document formats (the registry's file formats), for health and results."""
    return [
        {
            "format": fmt.name,
            "title": fmt.title,
            "suffix": fmt.suffix,
            "media_type": fmt.media_type,
            "description": fmt.description,
        }
        for fmt in file_formats()
    ]


def json_safe(value: Any, depth: int = 0) -> Any:
    """Keep the JSON-representable part of free-form metadata (numpy scalars become numbers)."""
    if depth > 6:
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v, depth + 1) for k, v in value.items() if json_safe_ok(v)}
    if isinstance(value, (list, tuple)):
        return [json_safe(v, depth + 1) for v in value if json_safe_ok(v)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_safe_ok(value: Any) -> bool:
    """True for values `json_safe` keeps (arrays and arbitrary objects are dropped)."""
    return value is None or isinstance(
        value, (str, int, float, bool, dict, list, tuple, np.generic)
    )


def manifest(job: Job) -> dict[str, Any]:
    """The result manifest of a finished job (PROTOCOL.md, GET /v1/jobs/{id}/result).

    `job.result` is its `plugin_bridge.storage.StoredResult`.
    """
    dec = job.result
    links = job.links()
    width, height = dec.canvas_size
    layers = []
    for i, layer in enumerate(dec.layers):
        w, h = layer.size
        layers.append(
            {
                "i": i,
                "name": layer.name,
                "bbox": list(layer.bbox),
                "offset": [int(layer.offset[0]), int(layer.offset[1])],
                "size": [int(w), int(h)],
                "invented_fraction": float(layer.invented_fraction),
                "predicted_index": float(layer.index),
                "png": f"{links['self']}/layers/{i}.png",
            }
        )
    return {
        "id": job.id,
        "canvas": {"width": int(width), "height": int(height)},
        "layer_count": len(layers),
        "layers": layers,
        **{fmt.name: links[fmt.name] for fmt in file_formats()},
        "documents": [{**entry, "url": links[entry["format"]]} for entry in formats_json()],
        "index_map": links["index_map"],
        "info": json_safe(dec.info),
    }
