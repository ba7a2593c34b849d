"""PSD -> (RGB, label) ground truth with psd-tools.

Pieces are the visible leaf layers, bottom to top (hidden layers and layers in hidden groups are
skipped, adjustment layers paint nothing and are skipped, groups are walked). A layer owns a pixel
where its own alpha (pixels x mask x layer opacity x enclosing groups' opacity, clipped to its
clipping base) is >= `alpha_threshold`; later layers overwrite earlier ones; the label is the dense
rank (0 = background, 1..K, higher = nearer the front). The RGB is psd-tools' composite on white.
With `size`, both maps are fitted into size x size (aspect kept: Lanczos for RGB, nearest for
labels) and padded identically (white / 0).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from psd_tools import PSDImage

from training.svg_labels import dense_rank

PAINTING_KINDS = frozenset(
    {"pixel", "shape", "type", "smartobject", "solidcolorfill", "gradientfill", "patternfill"}
)


class PsdError(ValueError):
    """A PSD that cannot be read or labelled; the message starts with the file name."""


@dataclass(frozen=True)
class PsdLabels:
    """rgb: uint8 (H, W, 3) on white; label: uint16 (H, W) dense rank; pieces: painting leaves
    found (visible or not occluded); visible_pieces: K = label.max()."""

    rgb: np.ndarray
    label: np.ndarray
    pieces: int
    visible_pieces: int


def _leaves(group, opacity: float = 1.0):
    """(layer, enclosing groups' opacity in [0, 1]) for painting leaves, bottom to top."""
    for layer in group:
        if not layer.visible:
            continue
        if layer.is_group():
            yield from _leaves(layer, opacity * layer.opacity / 255.0)
        elif layer.kind in PAINTING_KINDS:
            yield layer, opacity


def _alpha(layer, viewbox: tuple[int, int, int, int]) -> np.ndarray:
    """The layer's own alpha over the canvas: float32 (H, W) in [0, 1] (mask and opacity in)."""
    image = layer.composite(viewport=viewbox)
    width, height = viewbox[2] - viewbox[0], viewbox[3] - viewbox[1]
    if image is None:
        return np.zeros((height, width), dtype=np.float32)
    rgba = np.asarray(image.convert("RGBA"))
    return rgba[..., 3].astype(np.float32) / 255.0


def _fit(rgb: np.ndarray, label: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    height, width = label.shape
    scale = size / max(width, height)
    new_w = min(size, max(1, round(width * scale)))
    new_h = min(size, max(1, round(height * scale)))
    rgb_small = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.LANCZOS))
    label_small = np.asarray(
        Image.fromarray(label.astype(np.int32)).resize((new_w, new_h), Image.Resampling.NEAREST)
    )
    x, y = (size - new_w) // 2, (size - new_h) // 2
    rgb_out = np.full((size, size, 3), 255, dtype=np.uint8)
    rgb_out[y : y + new_h, x : x + new_w] = rgb_small
    label_out = np.zeros((size, size), dtype=np.int64)
    label_out[y : y + new_h, x : x + new_w] = label_small
    return rgb_out, dense_rank(label_out)


def label_psd(path: Path | str, size: int | None = None, alpha_threshold: float = 0.1) -> PsdLabels:
    """Ground truth of a PSD file (see module docstring); raises PsdError naming the file."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            psd = PSDImage.open(path)
            viewbox = psd.viewbox
            width, height = viewbox[2] - viewbox[0], viewbox[3] - viewbox[1]
            if width <= 0 or height <= 0:
                raise PsdError(f"{path}: empty canvas")
            raw = np.zeros((height, width), dtype=np.int64)
            pieces = 0
            base_alpha: np.ndarray | None = None
            for layer, group_opacity in _leaves(psd):
                alpha = _alpha(layer, viewbox) * group_opacity
                if getattr(layer, "clipping", False) and base_alpha is not None:
                    alpha = alpha * base_alpha
                else:
                    base_alpha = alpha
                owned = alpha >= alpha_threshold
                if owned.any():
                    pieces += 1
                    raw[owned] = pieces
            composite = psd.composite()
    except PsdError:
        raise
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise PsdError(f"{path}: cannot read PSD ({exc})") from None
    if composite is None:
        rgb = np.full((height, width, 3), 255, dtype=np.uint8)
    else:
        rgba = np.asarray(composite.convert("RGBA")).astype(np.float32)
        a = rgba[..., 3:4] / 255.0
        rgb = np.clip(np.rint(rgba[..., :3] * a + 255.0 * (1 - a)), 0, 255).astype(np.uint8)
    label = dense_rank(raw)
    if size is not None:
        rgb, label = _fit(rgb, label, size)
    return PsdLabels(rgb=rgb, label=label, pieces=pieces, visible_pieces=int(label.max()))
