"""A layer's flat-colour parts: which flat colour (region) each of its pixels belongs to.

The vector writer draws every layer as one filled shape per flat colour, traced from that
colour's completed mask (visible pixels plus the pixels completion invented for it). With the
decomposition's regions (`Decomposition.regions`), a visible pixel belongs to its own region's
colour and an invented one to the region it continues: completion "regions" paints exactly that
region's flat colour, other modes the nearest of the layer's flat colours. Without regions (a
Decomposition built by hand), the layer's own pixels are segmented.
"""

from __future__ import annotations

import numpy as np

from decomposer.completion import region_flat_colours
from decomposer.regions import segment_regions
from decomposer.types import Decomposition, LayerParts


def layer_parts(dec: Decomposition, k: int) -> LayerParts:
    """The flat-colour parts of layer `k` (0 = back): labels aligned with its rgba."""
    layer = dec.layers[k]
    h, w = layer.rgba.shape[:2]
    covered = layer.rgba[..., 3] > 0
    if h == 0 or w == 0 or not covered.any():
        return LayerParts(np.full((h, w), -1, np.int16), np.zeros((0, 3), np.uint8))
    if dec.regions is None:
        return _segmented_parts(layer.rgba)
    regions = dec.regions
    x, y = layer.offset
    members = np.flatnonzero(np.asarray(regions.layer_of_region) == k)
    colours, member_part = _distinct(regions.colours[members])
    dtype = _label_dtype(len(colours))
    lut = np.full(regions.count + 1, -1, dtype)  # lut[-1] = -1: pixels in no region
    lut[members] = member_part
    labels = lut[regions.labels[y : y + h, x : x + w]]
    labels[~covered] = -1
    invented = covered & (labels < 0)
    if invented.any():
        labels[invented] = _closest_colour(layer.rgba[invented][:, :3], colours)
    return LayerParts(labels, colours)


def _segmented_parts(rgba: np.ndarray) -> LayerParts:
    """Parts of a layer with no recorded regions: its own flat-colour regions, by colour."""
    found = segment_regions(np.ascontiguousarray(rgba))
    flat = region_flat_colours(found.labels, rgba, found.count, found.median_rgb)
    colours, region_part = _distinct(flat)
    dtype = _label_dtype(len(colours))
    lut = np.full(found.count + 1, -1, dtype)
    lut[: found.count] = region_part
    return LayerParts(lut[found.labels], colours)


def _distinct(colours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct colours uint8 (P, 3), index of each input colour among them)."""
    if len(colours) == 0:
        return np.zeros((0, 3), np.uint8), np.zeros(0, np.int64)
    unique, inverse = np.unique(colours, axis=0, return_inverse=True)
    return unique.astype(np.uint8), inverse.ravel()


def _label_dtype(count: int) -> type:
    return np.int16 if count < np.iinfo(np.int16).max else np.int32


def _closest_colour(pixels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Index of the closest (squared RGB distance) of `colours` (P, 3) for each pixel (n, 3):
    exact matches by lookup (completion "regions" paints exact flat colours), the others once
    per distinct pixel colour."""
    keys = _pack(pixels)
    palette_keys = _pack(colours)
    order = np.argsort(palette_keys)
    sorted_keys = palette_keys[order]
    slot = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    exact = sorted_keys[slot] == keys
    best_all = order[slot]
    if not exact.all():
        best_all[~exact] = _closest_by_distance(pixels[~exact], colours)
    return best_all


def _pack(rgb: np.ndarray) -> np.ndarray:
    """uint8 (n, 3) -> int64 (n,) keys r << 16 | g << 8 | b."""
    return (rgb[:, 0].astype(np.int64) << 16) | (rgb[:, 1].astype(np.int64) << 8) | rgb[:, 2]


def _closest_by_distance(pixels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Closest of `colours` for each pixel by squared RGB distance, once per distinct colour."""
    keys = _pack(pixels)
    unique, inverse = np.unique(keys, return_inverse=True)
    rgb = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1)
    best = np.empty(len(unique), np.int64)
    palette = colours.astype(np.int64)
    for start in range(0, len(unique), 4096):  # bounded memory: 4096 x P distances at a time
        chunk = rgb[start : start + 4096]
        d = ((chunk[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2)
        best[start : start + 4096] = d.argmin(axis=1)
    return best[inverse.ravel()]
