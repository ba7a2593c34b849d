"""Shared pixel helpers: PNG encoding and index maps as 8-bit / 16-bit grayscale.

The one place that encodes PNGs and scales index maps for people to look at; writers, the
bridge and the preview all use these (never their own copies).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image


def png_bytes(image: Image.Image | np.ndarray, mode: str | None = None, level: int = 1) -> bytes:
    """Encode a PIL image, or a uint8 array (H, W) / (H, W, 3|4) with PIL `mode`, as PNG bytes.

    level: zlib compression level 0-9 (1 = fast, the default for layer files).
    """
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image), mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return buffer.getvalue()


def drawable(rgba: np.ndarray) -> np.ndarray:
    """`rgba` itself, or one transparent pixel for an empty layer (PNG has no 0-size images)."""
    if rgba.shape[0] == 0 or rgba.shape[1] == 0:
        return np.zeros((1, 1, 4), dtype=np.uint8)
    return np.ascontiguousarray(rgba)


def scale_index_map(index_map: np.ndarray, top: int, dtype: type) -> np.ndarray:
    """Index map float (H, W) -> `dtype` (H, W), min-max scaled to 0 (back) .. `top` (front).

    A constant map gives all zeros; NaN/inf are treated as 0.
    """
    values = np.asarray(index_map, dtype=np.float32)
    if not np.isfinite(values).all():
        values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=dtype)
    scaled = values - np.float32(low)
    scaled *= np.float32(top / (high - low))
    scaled += np.float32(0.5)
    np.clip(scaled, 0, top, out=scaled)
    return scaled.astype(dtype)


def index_map_to_gray8(index_map: np.ndarray) -> np.ndarray:
    """Index map float (H, W) -> uint8 (H, W), min-max scaled, 0 = back, 255 = front."""
    return scale_index_map(index_map, 255, np.uint8)


def index_map_to_gray16(index_map: np.ndarray) -> np.ndarray:
    """Index map float (H, W) -> uint16 (H, W), min-max scaled, 0 = back, 65535 = front."""
    return scale_index_map(index_map, 65535, np.uint16)


def gray_to_rgba(gray: np.ndarray) -> np.ndarray:
    """uint8 (H, W) -> opaque gray uint8 (H, W, 4) (editors' layers are RGB(A))."""
    gray = np.asarray(gray, dtype=np.uint8)
    out = np.empty(gray.shape + (4,), np.uint8)
    out[..., :3] = gray[..., None]
    out[..., 3] = 255
    return out
