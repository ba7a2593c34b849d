"""Flat-colour regions: the units that get ordered (the paper orders regions, not pixels).

Algorithm (all vectorised, no Python loops over pixels):
1. every distinct RGB colour is converted to CIELAB and quantised on a grid of `lab_step` ΔE;
2. connected components (4-connectivity) of equal quantised colour;
3. components smaller than `min_area` pixels ("specks") and anti-aliasing strips (at most 2 px
   thick, coloured as a blend of their two main neighbours) are dissolved, and each of their
   pixels joins the adjacent region whose mean colour is closest to the pixel's own colour
   (grown front by front from the remaining regions; pixels within 12 ΔE of an adjacent region
   go first, so that noise at the edge of a flat area is won by its own area, and the others
   wait at most 4 steps for such a region);
4. adjacent regions whose mean colours are within `merge_delta_e` ΔE are merged. This undoes
   splits by the quantisation grid (noise, JPEG artefacts); a large threshold also fuses
   distinct pieces of similar colour (an outline and a fill, shading and its base, a white
   piece on a white background), which the orderer needs apart. The default, 2 ΔE, only
   merges colours no one can tell apart; grouping's τ links put similar colours that are
   adjacent in depth into one layer anyway.
Fully transparent pixels (alpha 0) belong to no region (label -1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage.color import rgb2lab
from skimage.measure import label as label_components

_N_COLOURS = 1 << 24
_STRIP_HALF_WIDTH = 1  # strips are at most 2 * this px thick
_SPECK_CLOSE_DELTA_E = 12.0  # a speck pixel this close (ΔE76) to an adjacent region joins it first
_SPECK_MAX_WAIT = 4  # steps a speck pixel with no close neighbour waits for a close region


@dataclass(frozen=True)
class RegionConfig:
    """Parameters of `segment_regions`.

    lab_step: quantisation cell size in CIELAB units (ΔE76), > 0.
    merge_delta_e: adjacent regions with mean colours closer than this (ΔE76) are merged; 0 = never
        (default 2: near-identical colours only; see the module docstring).
    min_area: components smaller than this many pixels are specks; None = max(64, H*W // 250_000)
        (64 = the paper's VTracer `filter_speckle 8`, i.e. 8x8 px).
    blend_tolerance: a component at most 2 px thick whose mean colour is within this many RGB
        levels of a blend of its two main neighbours is an anti-aliasing strip and dissolved too.
    max_speck_steps: bound on front-growing steps; speck pixels still unassigned after it (or not
        adjacent to any large region) become regions of their own.
    """

    lab_step: float = 6.0
    merge_delta_e: float = 2.0
    min_area: int | None = None
    blend_tolerance: float = 12.0
    max_speck_steps: int = 512

    def resolved_min_area(self, n_pixels: int) -> int:
        """Speck threshold in pixels for an image of `n_pixels` pixels."""
        if self.min_area is not None:
            return max(1, int(self.min_area))
        return max(64, n_pixels // 250_000)


@dataclass(frozen=True)
class Regions:
    """Result of `segment_regions`.

    labels: int32 (H, W), region id in [0, count), -1 for fully transparent pixels.
    count: number of regions.
    areas: int64 (count,) pixels per region.
    median_rgb: uint8 (count, 3) per-channel median colour of each region.
    """

    labels: np.ndarray
    count: int
    areas: np.ndarray
    median_rgb: np.ndarray


def segment_regions(rgba: np.ndarray, config: RegionConfig = RegionConfig()) -> Regions:
    """Segment uint8 (H, W, 4) straight-alpha pixels into near-uniform colour regions."""
    if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected uint8 (H, W, 4) pixels, got {rgba.dtype} {rgba.shape}")
    if config.lab_step <= 0:
        raise ValueError(f"lab_step must be positive, got {config.lab_step}")
    h, w = rgba.shape[:2]
    visible = rgba[..., 3] != 0
    keys = _colour_keys(rgba)
    quantised = _quantise_colours(keys, config.lab_step)
    quantised[~visible] = -1
    del keys
    components = label_components(quantised, background=-1, connectivity=1)
    del quantised
    size = int(components.max()) + 1
    comp_area = np.bincount(components.ravel(), minlength=size)
    comp_rgb = _mean_rgb_by_id(components.ravel(), rgba, size)
    if config.merge_delta_e > 0:
        thick = _has_interior(components, size)
        mapping = _similar_neighbour_groups(components, comp_rgb, config.merge_delta_e, thick)
        if mapping is not None:
            components = mapping[components]
            size = int(mapping.max()) + 1
            merged_area = np.bincount(mapping, weights=comp_area, minlength=size)
            comp_rgb = np.stack(
                [
                    np.bincount(mapping, weights=comp_rgb[:, c] * comp_area, minlength=size)
                    / np.maximum(merged_area, 1)
                    for c in range(3)
                ],
                axis=1,
            )
            comp_area = merged_area.astype(np.int64)
    labels, _ = _dissolve_specks(
        components, comp_area, comp_rgb, rgba, config.resolved_min_area(h * w), config
    )
    del components
    labels, count = _compact(labels)
    areas = np.bincount(labels.ravel() + 1, minlength=count + 1)[1:].astype(np.int64)
    median_rgb = region_median_rgb(labels, rgba, count)
    return Regions(labels=labels, count=count, areas=areas, median_rgb=median_rgb)


def region_median_rgb(labels: np.ndarray, rgba: np.ndarray, count: int) -> np.ndarray:
    """Per-channel (lower) median colour of each region: uint8 (count, 3). Labels -1 are ignored."""
    flat = labels.ravel().astype(np.int64) + 1
    areas = np.bincount(flat, minlength=count + 1)[1:]
    rank = (areas + 1) // 2  # 1-based rank of the lower median
    out = np.zeros((count, 3), np.uint8)
    if count == 0:
        return out
    for c in range(3):
        channel = rgba[..., c].ravel()
        hist = np.bincount(flat * 256 + channel, minlength=(count + 1) * 256)
        cum = np.cumsum(hist.reshape(count + 1, 256)[1:], axis=1)
        out[:, c] = np.argmax(cum >= rank[:, None], axis=1)
    return out


def region_mean_rgb(labels: np.ndarray, rgba: np.ndarray, count: int) -> np.ndarray:
    """Mean colour of each region: float64 (count, 3) in [0, 255]. Labels -1 are ignored."""
    return _mean_rgb_by_id(labels.ravel().astype(np.int64) + 1, rgba, count + 1)[1:]


def _mean_rgb_by_id(ids: np.ndarray, rgba: np.ndarray, size: int) -> np.ndarray:
    """Mean RGB per id: ids int (H*W,) in [0, size) -> float64 (size, 3); 0 for unused ids."""
    areas = np.maximum(np.bincount(ids, minlength=size), 1)
    means = np.empty((size, 3))
    for c in range(3):
        means[:, c] = np.bincount(ids, weights=rgba[..., c].ravel(), minlength=size) / areas
    return means


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 255] (n, 3) -> CIELAB (n, 3), float64."""
    rgb = np.asarray(rgb, dtype=np.float64).reshape(-1, 1, 3) / 255.0
    if rgb.shape[0] == 0:
        return np.zeros((0, 3))
    return rgb2lab(rgb).reshape(-1, 3)


def _colour_keys(rgba: np.ndarray) -> np.ndarray:
    """int32 (H, W) key r<<16 | g<<8 | b."""
    keys = rgba[..., 0].astype(np.int32) << 16
    keys |= rgba[..., 1].astype(np.int32) << 8
    keys |= rgba[..., 2]
    return keys


def _quantise_colours(keys: np.ndarray, step: float) -> np.ndarray:
    """Quantised-Lab cell id per pixel: int32 (H, W), computed once per distinct colour."""
    present = np.zeros(_N_COLOURS, bool)
    present[keys.ravel()] = True
    colours = np.flatnonzero(present)
    del present
    rgb = np.stack([(colours >> 16) & 255, (colours >> 8) & 255, colours & 255], axis=1)
    cells = np.floor(rgb_to_lab(rgb) / step).astype(np.int64)
    cells -= cells.min(axis=0)
    span = cells.max(axis=0) + 1
    codes = (cells[:, 0] * span[1] + cells[:, 1]) * span[2] + cells[:, 2]
    _, cell_id = np.unique(codes, return_inverse=True)
    lut = np.empty(_N_COLOURS, np.int32)
    lut[colours] = cell_id.astype(np.int32).ravel()
    return lut[keys]


def _dissolve_specks(
    components: np.ndarray,
    comp_area: np.ndarray,
    comp_rgb: np.ndarray,
    rgba: np.ndarray,
    min_area: int,
    config: RegionConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Specks and blend strips merged into adjacent large regions.

    components: int (H, W) component ids, 0 = transparent; comp_area: int (C + 1,) pixels and
    comp_rgb: float (C + 1, 3) mean colour per id (row 0 unused). Returns (labels int32 (H, W),
    -1 = transparent; mean RGB (R, 3) of the component each region grew from, or of the island).
    """
    h, w = components.shape
    areas = comp_area.copy()
    areas[0] = 0  # background (transparent)
    comp_rgb = comp_rgb[1:]
    large = areas >= min_area
    large[0] = False
    large &= ~_blend_strips(components, comp_rgb, large, config.blend_tolerance)
    if not large.any() and areas.size > 1:
        large[int(np.argmax(areas))] = True
    new_id = np.full(areas.size, -2, np.int32)
    new_id[0] = -1
    new_id[large] = np.arange(int(large.sum()), dtype=np.int32)
    labels = new_id[components]
    n_large = int(large.sum())
    region_rgb = comp_rgb[large[1:]]
    flat = labels.ravel()
    todo = np.flatnonzero(flat == -2)
    if todo.size == 0:
        return labels, region_rgb
    region_lab = rgb_to_lab(region_rgb)
    rgb = rgba[..., :3].reshape(-1, 3)
    todo_lab = rgb_to_lab(rgb[todo])  # rows follow `todo` (sorted flat indices)
    waiting = np.zeros(h * w, bool)
    waiting[todo] = True
    waited = np.zeros(h * w, np.int16)  # steps a front pixel has waited for a close region
    # only the front (speck pixels with a labelled 4-neighbour) can join a region in a step, so
    # each step looks at the front alone: the pixels next to the last step's joins, and the
    # front pixels that waited
    front = todo[_labelled_neighbour(flat, todo, h, w)]
    for _ in range(config.max_speck_steps):
        if front.size == 0:
            break
        best = np.full(front.size, -1, np.int32)
        best_d = np.full(front.size, np.inf)
        front_lab = todo_lab[np.searchsorted(todo, front)]
        ys, xs = np.divmod(front, w)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ok = (ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
            cand = np.full(front.size, -1, np.int32)
            cand[ok] = flat[front[ok] + dy * w + dx]
            ok = cand >= 0
            if not ok.any():
                continue
            d = np.full(front.size, np.inf)
            d[ok] = ((region_lab[cand[ok]] - front_lab[ok]) ** 2).sum(axis=1)
            better = d < best_d
            best[better] = cand[better]
            best_d[better] = d[better]
        done = best >= 0
        if not done.any():
            break
        # a pixel whose colour is close to an adjacent region joins it now; the others wait a
        # step for a closer region's front (noise at the edge of a flat area must not be won by
        # the neighbour that happens to touch it first), unless nobody is close (blends)
        close = done & (best_d <= _SPECK_CLOSE_DELTA_E**2)
        if close.any():
            # ... for at most _SPECK_MAX_WAIT steps (a closer front arrives within a few px;
            # waiting for every close pixel of the image made hundreds of steps)
            done = close | (done & (waited[front] >= _SPECK_MAX_WAIT))
            waited[front[~done]] += 1
        joined = front[done]
        flat[joined] = best[done]
        waiting[joined] = False
        jy, jx = np.divmod(joined, w)
        grown = [front[~done]]
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ok = (jy + dy >= 0) & (jy + dy < h) & (jx + dx >= 0) & (jx + dx < w)
            nb = joined[ok] + dy * w + dx
            grown.append(nb[waiting[nb]])
        front = np.unique(np.concatenate(grown))
    todo = np.flatnonzero(waiting)
    if todo.size == 0:
        return labels, region_rgb
    # Speck pixels with no large region around them (islands in transparency): own regions.
    rest = np.zeros(h * w, bool)
    rest[todo] = True
    islands, n_islands = ndi.label(rest.reshape(h, w))
    island_of = islands.ravel()[todo] - 1
    flat[todo] = n_large + island_of
    island_rgb = np.zeros((n_islands, 3))
    sizes = np.maximum(np.bincount(island_of, minlength=n_islands), 1)
    for c in range(3):
        island_rgb[:, c] = np.bincount(island_of, rgb[todo, c], minlength=n_islands) / sizes
    return labels, np.concatenate([region_rgb, island_rgb])


def _labelled_neighbour(flat: np.ndarray, pixels: np.ndarray, h: int, w: int) -> np.ndarray:
    """bool (n,): does flat pixel pixels[i] of an (h, w) label map have a 4-neighbour >= 0?"""
    ys, xs = np.divmod(pixels, w)
    out = np.zeros(pixels.size, bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ok = (ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
        out[ok] |= flat[pixels[ok] + dy * w + dx] >= 0
    return out


def _blend_strips(
    components: np.ndarray, comp_rgb: np.ndarray, large: np.ndarray, tolerance: float
) -> np.ndarray:
    """Components that are anti-aliasing strips: bool (C + 1,).

    A strip is at most 2 px thick (no pixel whose 4 neighbours are all in the same component) and
    its mean colour lies within `tolerance` (RGB levels) of the segment between the colours of its
    two most frequent solid neighbours within 2 px. Thin features of their own colour (outlines,
    hairlines) are not blends of their neighbours and are kept.
    """
    h, w = components.shape
    size = len(large)
    strips = np.zeros(size, bool)
    same = np.ones((h, w), bool)
    for d in range(1, _STRIP_HALF_WIDTH + 1):
        same[d:] &= components[d:] == components[:-d]
        same[:-d] &= components[:-d] == components[d:]
        same[:, d:] &= components[:, d:] == components[:, :-d]
        same[:, :-d] &= components[:, :-d] == components[:, d:]
    interior = np.bincount(components[same], minlength=size)
    thin = large & (interior == 0)
    if not thin.any():
        return strips
    solid = large & ~thin
    pixels = np.flatnonzero(thin[components.ravel()])
    flat = components.ravel()
    own = flat[pixels].astype(np.int64)
    ys, xs = np.divmod(pixels, w)
    codes = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1), (-2, 0), (2, 0), (0, -2), (0, 2)):
        ok = (ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)
        nb = flat[pixels[ok] + dy * w + dx].astype(np.int64)
        keep = solid[nb]
        codes.append(own[ok][keep] * size + nb[keep])
    code, count = np.unique(np.concatenate(codes), return_counts=True)
    if code.size == 0:
        return strips
    comp, nb = np.divmod(code, size)
    order = np.lexsort((-count, comp))
    comp, nb = comp[order], nb[order]
    first = np.r_[True, comp[1:] != comp[:-1]]
    a_comp, a_nb = comp[first], nb[first]
    second = np.r_[False, first[:-1]] & ~first  # the runner-up of each component, if any
    b_nb = a_nb.copy()  # no runner-up: the segment degenerates to the main neighbour's colour
    b_nb[(np.cumsum(first) - 1)[second]] = nb[second]
    colours = np.vstack([np.zeros((1, 3)), comp_rgb])  # row = component id
    m, a, b = colours[a_comp], colours[a_nb], colours[b_nb]
    ab = b - a
    t = np.clip(((m - a) * ab).sum(axis=1) / np.maximum((ab * ab).sum(axis=1), 1e-9), 0.0, 1.0)
    distance = np.linalg.norm(m - (a + t[:, None] * ab), axis=1)
    strips[a_comp[distance <= tolerance]] = True
    return strips


def _has_interior(components: np.ndarray, size: int) -> np.ndarray:
    """bool (size,): components with a pixel whose 4 neighbours are all in the component."""
    same = np.ones(components.shape, bool)
    same[1:] &= components[1:] == components[:-1]
    same[:-1] &= components[:-1] == components[1:]
    same[:, 1:] &= components[:, 1:] == components[:, :-1]
    same[:, :-1] &= components[:, :-1] == components[:, 1:]
    return np.bincount(components[same], minlength=size) > 0


def _similar_neighbour_groups(
    components: np.ndarray, comp_rgb: np.ndarray, delta_e: float, thick: np.ndarray | None = None
) -> np.ndarray | None:
    """Single-linkage groups of 4-adjacent components with mean colours within `delta_e` ΔE76.

    components: int (H, W), 0 = transparent; comp_rgb: float (C + 1, 3); thick: bool (C + 1,)
    components with an interior pixel (None = all thick). Thick components link freely (bands
    of a gradient chain into one region); a thin one (an anti-aliasing ramp, noise) joins only
    its closest thick partner, so that no chain of ramp components links two distinct flat
    colours (a white cloud and the sky); thin ones with no thick partner link among themselves.
    Returns the new id of every component id (int64 (C + 1,), 0 stays 0, groups numbered from
    1), or None if no pair is close enough.
    """
    size = len(comp_rgb)
    if size <= 2:
        return None
    lab = rgb_to_lab(comp_rgb)
    pairs = []
    for a, b in ((components[:, :-1], components[:, 1:]), (components[:-1, :], components[1:, :])):
        edge = a != b
        edge &= a > 0
        edge &= b > 0
        lo = np.minimum(a[edge], b[edge]).astype(np.int64)
        hi = np.maximum(a[edge], b[edge]).astype(np.int64)
        pairs.append(np.unique(lo * size + hi))
    codes = np.unique(np.concatenate(pairs))
    lo, hi = np.divmod(codes, size)
    distance = ((lab[lo] - lab[hi]) ** 2).sum(axis=1)
    close = distance < delta_e**2
    if thick is not None and close.any():
        close = _no_thin_bridges(lo, hi, distance, close, thick)
    if not close.any():
        return None
    graph = coo_matrix(
        (np.ones(int(close.sum()), np.int8), (lo[close], hi[close])), shape=(size, size)
    )
    _, group = connected_components(graph, directed=False)
    # renumber so that id 0 (transparent) stays 0 and groups are 1..G
    _, mapping = np.unique(group, return_inverse=True)
    mapping = mapping.astype(np.int64).ravel()
    mapping = np.where(mapping < mapping[0], mapping + 1, mapping)
    mapping[0] = 0
    return mapping


def _no_thin_bridges(
    lo: np.ndarray, hi: np.ndarray, distance: np.ndarray, close: np.ndarray, thick: np.ndarray
) -> np.ndarray:
    """The close pairs kept by `_similar_neighbour_groups`' rule for thin components."""
    both = thick[lo] & thick[hi]
    mixed = close & (thick[lo] != thick[hi])
    keep = close & both
    thin_of = np.where(thick[lo], hi, lo)
    # each thin component: its closest thick partner only
    order = np.lexsort((distance[mixed], thin_of[mixed]))
    candidates = np.flatnonzero(mixed)[order]
    attached = np.zeros(len(thick), bool)
    if candidates.size:
        first = np.r_[True, thin_of[candidates][1:] != thin_of[candidates][:-1]]
        keep[candidates[first]] = True
        attached[thin_of[candidates[first]]] = True
    # thin-thin links only between thin components that have no thick partner
    keep |= close & ~thick[lo] & ~thick[hi] & ~attached[lo] & ~attached[hi]
    return keep


def _compact(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber the used labels to 0..count-1 keeping their order; -1 stays -1."""
    top = int(labels.max()) + 1 if labels.size else 0
    if top <= 0:
        return labels.astype(np.int32, copy=False), 0
    used = np.bincount(labels.ravel() + 1, minlength=top + 1)[1:] > 0
    new_id = np.full(top + 1, -1, np.int32)
    new_id[:top][used] = np.arange(int(used.sum()), dtype=np.int32)
    return new_id[labels], int(used.sum())
