"""Index-map writer: 16-bit grayscale PNG (0 = back, 65535 = front) or float32 .npy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from decomposer.atomic import atomic_path
from decomposer.errors import InvalidOptionError
from decomposer.pixels import index_map_to_gray16


def write_index_map(index_map: np.ndarray, path: str | Path) -> Path:
    """Write a float (H, W) index map (higher = front) atomically; returns the path.

    `.png`: 16-bit grayscale, min-max scaled (0 = back, 65535 = front).
    `.npy`: the raw values as float32 (H, W).
    """
    path = Path(path)
    index_map = np.asarray(index_map)
    if index_map.ndim != 2 or index_map.size == 0:
        raise InvalidOptionError(
            f"{path}: index map must be a non-empty (H, W) array, got {index_map.shape}"
        )
    suffix = path.suffix.lower()
    if suffix == ".png":
        image = Image.fromarray(index_map_to_gray16(index_map))
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG")
    elif suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, index_map.astype(np.float32), allow_pickle=False)
    else:
        raise InvalidOptionError(
            f"{path}: index map must be written as .png or .npy, not {suffix or 'no suffix'}"
        )
    return path
