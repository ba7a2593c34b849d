"""Amodal completion and assembly of layer pixels from an ownership map.

Every visible pixel is owned by exactly one layer (`owner`, -1 = fully transparent, owned by
none) and appears in that layer with its original colour and alpha. Completion adds *invented*
pixels to layer n only where a layer above owns a fully opaque pixel (owner > n, alpha 255), so
compositing the layers bottom -> top reproduces the input exactly (see decomposer.composite).

Modes (paper §7 step 4, extended to colour):
- "regions" (default): shape continuation by flat-colour region. Each hidden pixel of layer n is
  given to at most one region of layer n and takes that region's own flat colour (its typical
  colour, anti-aliased rims excluded; `region_flat_colours`), never a colour copied from another
  region's edge. A hidden area that only the layer's own regions surround (a hole, e.g. the sky
  behind a house) is filled completely, each pixel by its closest own region; a hidden area that
  also borders other layers is continued by `CompletionConfig.continuation`: "harmonic" (the
  default: the layer's harmonic indicator > 0.5 decides, solved on a coarse grid over a context
  wider than the working crop and read back bilinearly; the closest own region colours),
  "closest" (the paper's default: a pixel joins when its closest visible pixel is one of the
  layer's regions), "convex" (each bordering region's convex hull) or "mix" (convex hull for
  regions at least `convex_threshold` convex, closest otherwise; the paper's mix). On the
  parts512 validation split "harmonic" recovers the pieces' full masks best (amodal IoU, see
  `training.amodal_eval`).
- "nearest": a hidden pixel joins layer n when its nearest non-hidden pixel (Euclidean) belongs to
  layer n, and takes that pixel's colour (closest-point fill, one distance transform per layer).
- "harmonic": smoother; the layer indicator and the layer's colour are interpolated harmonically
  (Laplace equation) into the hidden area; pixels where the indicator exceeds 0.5 join the layer,
  coloured by the interpolated colour of the layer's own visible pixels.
- "none": layers hold their visible pixels only.
Work is confined to the layer's bounding box grown by a margin (completion never reaches further);
on large crops distance transforms and solves run on a coarser grid (`max_work_pixels`,
`max_harmonic_cells`), which only changes invented pixels, never visible ones.

Which region each pixel of a finished layer belongs to (its flat-colour *parts*, for the vector
writer) is recovered afterwards by `decomposer.parts`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu
from skimage.morphology import convex_hull_image

from decomposer.regions import region_median_rgb
from decomposer.types import RegionMap

COMPLETION_MODES = ("regions", "nearest", "harmonic", "none")
CONTINUATIONS = ("harmonic", "closest", "convex", "mix")
_FLAT_COLOUR_STEP = 2  # flat colours from every 2nd interior pixel per axis ...
_FLAT_COLOUR_SUBSAMPLE_FROM = 1 << 20  # ... on images of at least this many pixels
_MAX_HULL_REGIONS = 64  # convex / mix: hulls of at most this many (largest) bordering regions


@dataclass(frozen=True)
class CompletionConfig:
    """Parameters of layer completion.

    mode: one of COMPLETION_MODES ("regions" needs the image's `RegionMap`).
    continuation: "regions" mode, how hidden areas that also border other layers are continued:
        one of CONTINUATIONS (see the module docstring).
    convex_threshold: "mix": regions whose area is at least this share of their convex hull's
        are continued by their hull, in (0, 1].
    margin_fraction / margin_min: the working crop is the layer's visible bounding box grown by
        max(margin_min, margin_fraction * longest side) pixels on each side.
    max_work_pixels: "nearest" runs its distance transform on a grid coarsened by an integer factor
        so that the crop has at most this many cells (1 = full resolution when small enough).
    max_harmonic_cells: the same bound for the "harmonic" linear solve.
    max_indicator_cells: the same bound for the harmonic indicator of continuation "harmonic"
        (read back bilinearly, so a coarse grid still draws a smooth boundary).
    indicator_context: continuation "harmonic" solves its indicator on the layer's visible
        bounding box grown by this many times its longest side (clipped to the image; at least
        the working crop), >= 0; only the working crop is written.
    """

    mode: str = "regions"
    continuation: str = "harmonic"
    convex_threshold: float = 0.8
    margin_fraction: float = 0.5
    margin_min: int = 8
    max_work_pixels: int = 1_000_000
    max_harmonic_cells: int = 200_000
    max_indicator_cells: int = 16_384
    indicator_context: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in COMPLETION_MODES:
            raise ValueError(
                f"completion must be one of {', '.join(COMPLETION_MODES)}, got {self.mode!r}"
            )
        if self.continuation not in CONTINUATIONS:
            raise ValueError(
                f"continuation must be one of {', '.join(CONTINUATIONS)}, got {self.continuation!r}"
            )
        if self.indicator_context < 0:
            raise ValueError(f"indicator_context must be >= 0, got {self.indicator_context}")
        if not 0.0 < self.convex_threshold <= 1.0:
            raise ValueError(f"convex_threshold must be in (0, 1], got {self.convex_threshold}")


def region_flat_colours(
    labels: np.ndarray, rgba: np.ndarray, count: int, fallback: np.ndarray | None = None
) -> np.ndarray:
    """Each region's typical colour: uint8 (count, 3), the per-channel median of its interior.

    Interior pixels are those whose 4 neighbours (inside the image) are in the same region, so
    anti-aliased rims, which blend into the neighbours, do not pull the colour (on images of
    1 MP and more, every other interior pixel in each direction is used); a region with no
    (sampled) interior (a hairline) takes the median of all its pixels (`fallback`, uint8 (count, 3), when
    the caller has it: `Regions.median_rgb`).
    labels: int (H, W) in [0, count) or -1; rgba: uint8 (H, W, 4).
    """
    interior = labels >= 0
    interior[1:] &= labels[1:] == labels[:-1]
    interior[:-1] &= labels[:-1] == labels[1:]
    interior[:, 1:] &= labels[:, 1:] == labels[:, :-1]
    interior[:, :-1] &= labels[:, :-1] == labels[:, 1:]
    step = _FLAT_COLOUR_STEP if labels.size >= _FLAT_COLOUR_SUBSAMPLE_FROM else 1
    inner = np.where(interior[::step, ::step], labels[::step, ::step], -1)
    colours = region_median_rgb(inner, rgba[::step, ::step], count)
    has_inner = np.bincount(inner.ravel() + 1, minlength=count + 1)[1:] > 0
    if not has_inner.all():
        if fallback is None:
            fallback = region_median_rgb(labels, rgba, count)
        colours[~has_inner] = fallback[~has_inner]
    return colours


@dataclass(frozen=True)
class LayerPixels:
    """Pixels of one layer: rgba uint8 (h, w, 4) cropped to its bbox, offset (x, y), counts."""

    rgba: np.ndarray
    offset: tuple[int, int]
    visible: int
    invented: int

    @property
    def invented_fraction(self) -> float:
        """Share in [0, 1] of the layer's non-transparent pixels that were invented."""
        total = self.visible + self.invented
        return self.invented / total if total else 0.0


def build_layers(
    owner: np.ndarray,
    rgba: np.ndarray,
    n_layers: int,
    config: CompletionConfig = CompletionConfig(),
    regions: RegionMap | None = None,
) -> list[LayerPixels]:
    """Assemble (and complete) every layer, bottom -> top.

    owner: int (H, W) layer id in [0, n_layers) or -1; rgba: uint8 (H, W, 4) input pixels.
    regions: the image's flat-colour regions (needed by mode "regions"); their layers must agree
    with `owner`.
    """
    if owner.shape != rgba.shape[:2]:
        raise ValueError(f"owner {owner.shape} and image {rgba.shape[:2]} differ in shape")
    if config.mode == "regions" and regions is None:
        raise ValueError("completion 'regions' needs the image's regions (a RegionMap)")
    if regions is not None and regions.labels.shape != owner.shape:
        raise ValueError(f"region labels {regions.labels.shape} and owner {owner.shape} differ")
    boxes = ndi.find_objects(owner.astype(np.int32) + 1, max_label=n_layers)
    dtype = np.int8 if n_layers < 127 else np.int32
    owner = owner.astype(dtype)
    # owner of fully opaque pixels only (-1 elsewhere): completion may go under these alone
    hider = np.where(rgba[..., 3] == 255, owner, dtype(-1))
    words = _as_uint32(rgba)
    return [
        _build_layer(n, box, owner, hider, rgba, words, regions, config)
        for n, box in enumerate(boxes)
    ]


def _build_layer(
    n: int,
    box: tuple[slice, slice] | None,
    owner: np.ndarray,
    hider: np.ndarray,
    rgba: np.ndarray,
    words: np.ndarray,
    regions: RegionMap | None,
    config: CompletionConfig,
) -> LayerPixels:
    h, w = owner.shape
    if box is None:
        return LayerPixels(np.zeros((0, 0, 4), np.uint8), (0, 0), 0, 0)
    ys, xs = box
    if config.mode != "none":
        longest = max(ys.stop - ys.start, xs.stop - xs.start)
        margin = max(config.margin_min, int(math.ceil(config.margin_fraction * longest)))
        ys = slice(max(0, ys.start - margin), min(h, ys.stop + margin))
        xs = slice(max(0, xs.start - margin), min(w, xs.stop + margin))
    own_c = owner[ys, xs]
    rgba_c = rgba[ys, xs]
    ch, cw = own_c.shape
    own = own_c == n
    fill = hider[ys, xs] > n
    pixels32 = words[ys, xs]
    has_fill = config.mode != "none" and bool(fill.any())
    s = 1
    assigned = colour = None  # per-pixel region (mode "regions") / block colours (the others)
    if has_fill and config.mode == "regions":
        at_edge = (ys.start == 0, ys.stop == h, xs.start == 0, xs.stop == w)
        own_region = np.where(own, regions.labels[ys, xs], np.int32(-1))
        context = None
        if config.continuation == "harmonic":
            context = _indicator_context(n, box, ys, xs, owner, hider, config)
        assigned = _region_fill(own, fill, own_region, rgba_c, at_edge, config, context)
        invented = assigned >= 0
    elif has_fill:
        if config.mode == "nearest":
            s = _grid_factor(fill.size, config.max_work_pixels)
            ry, rx = _nearest_reps(fill, own, s)
            take, colour = own[ry, rx], pixels32[ry, rx] | _OPAQUE32
        else:
            s = _grid_factor(fill.size, config.max_harmonic_cells)
            take, colour = _harmonic_blocks(own, fill, rgba_c, s)
        hb, wb = take.shape
        invented = np.zeros((hb * s, wb * s), bool)
        invented[:ch, :cw] = fill
        invented.reshape(hb, s, wb, s)[...] &= take[:, None, :, None]
        invented = invented[:ch, :cw]
    else:
        invented = None
    mask = own if invented is None else own | invented
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    del mask
    tight_own = own[r0:r1, c0:c1]
    tight_inv = None if invented is None else invented[r0:r1, c0:c1]
    if assigned is not None:
        # flat colour of the region each pixel continues; -1 picks the palette's last entry, 0
        out = _opaque_palette(regions.colours)[assigned[r0:r1, c0:c1]]
    elif invented is not None:
        # block colours expanded to the tight box, zero where nothing is invented
        out = _expand_blocks(colour, s, r0, r1, c0, c1)
        out *= tight_inv
    else:
        out = np.zeros((r1 - r0, c1 - c0), np.uint32)
    np.copyto(out, pixels32[r0:r1, c0:c1], where=tight_own)
    tight = out.view(np.uint8).reshape(r1 - r0, c1 - c0, 4)
    visible = int(np.count_nonzero(own))
    n_invented = int(np.count_nonzero(invented)) if invented is not None else 0
    return LayerPixels(tight, (int(xs.start + c0), int(ys.start + r0)), visible, n_invented)


def _opaque_palette(colours: np.ndarray) -> np.ndarray:
    """uint8 (R, 3) flat colours -> uint32 (R + 1,) opaque RGBA words, then 0 (transparent)."""
    rgba = np.zeros((colours.shape[0] + 1, 4), np.uint8)
    rgba[:-1, :3] = colours
    rgba[:-1, 3] = 255
    return rgba.view(np.uint32)[:, 0]


# ------------------------------------------------------------------ completion by regions


def _grow4(mask: np.ndarray) -> np.ndarray:
    """`mask` and its 4-neighbours: bool (h, w)."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def _region_fill(
    own: np.ndarray,
    fill: np.ndarray,
    own_region: np.ndarray,
    rgba_c: np.ndarray,
    at_edge: tuple[bool, bool, bool, bool],
    config: CompletionConfig,
    context: tuple[np.ndarray, np.ndarray, int, int] | None = None,
) -> np.ndarray:
    """The own region each hidden pixel continues: int32 (h, w), -1 where it stays empty.

    own: bool, the layer's visible pixels; fill: bool, hidden pixels (under opaque pixels of
    layers above); own_region: int32 region id on own pixels, -1 elsewhere; at_edge: whether the
    crop's top, bottom, left, right side is the image's own edge (beyond which nothing is known).
    A hidden component is *enclosed* when it touches no pixel of other layers (or transparency)
    and no crop side inside the image: it is filled completely, each pixel by its closest own
    region. The others are continued by `config.continuation`; "harmonic" solves its indicator
    on `context` (own, fill of a larger box and the crop's (row, col) offset in it;
    `_indicator_context`).
    """
    s = _grid_factor(fill.size, config.max_work_pixels)
    comps, n_comps = ndi.label(fill)
    open_ = np.zeros(n_comps + 1, bool)
    foreign = ~(fill | own)
    open_[comps[_grow4(foreign) & fill]] = True
    for side, edge in zip(at_edge, (comps[0], comps[-1], comps[:, 0], comps[:, -1]), strict=True):
        if not side:
            open_[edge] = True
    open_[0] = False
    if config.continuation == "harmonic":
        # a hidden pixel stays when enclosed or when the layer's harmonic indicator says so, and
        # takes its closest own region (found on the box of own and kept pixels: it holds them all)
        if open_[1:].all():  # no enclosed component (common): skip the per-pixel lookup
            partial, keep = fill, np.zeros_like(fill)
        else:
            partial = fill & open_[comps]
            keep = fill & ~partial
        if partial.any():
            own_x, fill_x, dy, dx = context if context is not None else (own, fill, 0, 0)
            keep |= _harmonic_take(own_x, fill_x, partial, dy, dx, config)
        assigned = np.full(own.shape, -1, np.int32)
        span = own | keep
        rows = np.flatnonzero(span.any(axis=1))
        cols = np.flatnonzero(span.any(axis=0))
        box = np.s_[int(rows[0]) : int(rows[-1]) + 1, int(cols[0]) : int(cols[-1]) + 1]
        sub_own = own[box]
        near = _nearest_region(~sub_own, own_region[box], s, sub_own)
        np.copyto(assigned[box], near, where=keep[box])
        return assigned
    assigned = _nearest_region(fill, own_region, s, own)
    assigned[~fill] = -1
    enclosed = fill & ~open_[comps]
    lost = enclosed & (assigned < 0)  # the closest visible pixel lies beyond a thin own ring
    if lost.any():
        rows = np.flatnonzero(lost.any(axis=1))
        cols = np.flatnonzero(lost.any(axis=0))
        r0, r1 = max(0, int(rows[0]) - 2), min(fill.shape[0], int(rows[-1]) + 3)
        c0, c1 = max(0, int(cols[0]) - 2), min(fill.shape[1], int(cols[-1]) + 3)
        sub_region = own_region[r0:r1, c0:c1]
        sub_own = own[r0:r1, c0:c1]
        if sub_own.any():
            near_own = _nearest_region(~sub_own, sub_region, s, sub_own)
            sub_lost = lost[r0:r1, c0:c1]
            assigned[r0:r1, c0:c1][sub_lost] = near_own[sub_lost]
    if config.continuation != "closest":
        partial = fill & open_[comps]
        if partial.any():
            _extend(assigned, partial, fill, own, own_region, rgba_c, config)
    return assigned


def _nearest_region(
    unknown: np.ndarray, own_region: np.ndarray, s: int, own: np.ndarray | None = None
) -> np.ndarray:
    """int32 (h, w): region id (own_region) of each pixel's closest known pixel (~unknown).

    On an s x s block grid when s > 1 (a block is known when it holds a known pixel; its
    representative is its first own pixel, else its first known one).
    """
    if own is None:
        own = own_region >= 0
    h, w = unknown.shape
    ry, rx = _nearest_reps(unknown, own, s)
    region = own_region[ry, rx]
    if s == 1:
        return region
    return _expand_blocks(region, s, 0, h, 0, w)


def _extend(
    assigned: np.ndarray,
    partial: np.ndarray,
    fill: np.ndarray,
    own: np.ndarray,
    own_region: np.ndarray,
    rgba_c: np.ndarray,
    config: CompletionConfig,
) -> None:
    """Continue the layer into `partial` (hidden pixels bordering other layers) in place, by
    convex hulls ("convex", "mix")."""
    # convex / mix: hulls of the (largest) own regions that border the partial areas
    bordering = own_region[_grow4(partial) & own]
    if bordering.size == 0:
        if config.continuation == "convex":
            assigned[partial] = -1
        return
    top = int(max(own_region.max(), assigned.max())) + 1
    ids = np.unique(bordering)
    boxes = ndi.find_objects(own_region + 1, max_label=top)
    areas = np.bincount(own_region[own], minlength=top)
    chosen = ids[np.argsort(-areas[ids], kind="stable")][:_MAX_HULL_REGIONS].tolist()
    hulls: list[tuple[int, int, tuple[slice, slice], np.ndarray]] = []
    for r in chosen:
        box = boxes[r]
        inside = own_region[box] == r
        hull = convex_hull_image(inside) if inside.sum() >= 3 else inside
        hull_area = int(np.count_nonzero(hull))
        convex = hull_area > 0 and areas[r] / hull_area >= config.convex_threshold
        if config.continuation == "convex" or convex:
            hulls.append((hull_area, r, box, hull))
    if config.continuation == "convex":
        assigned[partial] = -1
    else:  # mix: regions continued by their hulls give up their closest-point pixels
        by_hull = np.zeros(top + 1, bool)
        by_hull[[r for _, r, _, _ in hulls]] = True
        assigned[partial & by_hull[assigned]] = -1  # assigned -1 -> by_hull[-1] (False)
    for _, r, box, hull in sorted(hulls, key=lambda item: -item[0]):  # small hulls win
        claim = hull & partial[box]
        assigned[box][claim] = r


def _indicator_context(
    n: int,
    box: tuple[slice, slice],
    ys: slice,
    xs: slice,
    owner: np.ndarray,
    hider: np.ndarray,
    config: CompletionConfig,
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Where layer n's harmonic indicator is solved: (own, fill, dy, dx) of its visible bounding
    `box` grown by `config.indicator_context` times its longest side (at least the working crop
    ys, xs), with the crop's offset in it. Beyond the crop the Laplace solve would otherwise meet
    a zero-flux wall where the image goes on; the wider context lets the layers beyond speak.
    """
    h, w = owner.shape
    by, bx = box
    grow = int(math.ceil(config.indicator_context * max(by.stop - by.start, bx.stop - bx.start)))
    cy = slice(max(0, min(ys.start, by.start - grow)), min(h, max(ys.stop, by.stop + grow)))
    cx = slice(max(0, min(xs.start, bx.start - grow)), min(w, max(xs.stop, bx.stop + grow)))
    return owner[cy, cx] == n, hider[cy, cx] > n, ys.start - cy.start, xs.start - cx.start


def _harmonic_take(
    own: np.ndarray,
    fill: np.ndarray,
    partial: np.ndarray,
    dy: int,
    dx: int,
    config: CompletionConfig,
) -> np.ndarray:
    """bool (h, w) like `partial`: its pixels where the layer's harmonic indicator exceeds 0.5.

    own, fill: bool (H, W), the layer's visible and hidden pixels on the context box, which holds
    `partial`'s crop at row dy, column dx. The indicator is 1 on own pixels, 0 on the other known
    pixels (~fill) and harmonic (Laplace equation, zero flux at the context's border) on hidden
    ones; it is solved on blocks of s x s pixels (at most `config.max_indicator_cells` blocks; a
    known block holds a known pixel and keeps the share of own among them) and read back
    bilinearly between block centres, so the boundary it draws is smooth at any grid. Only pixels
    of blocks next to the 0.5 crossing are interpolated; the others take their block's side.
    """
    h, w = partial.shape
    s = _grid_factor(own.size, config.max_indicator_cells)
    weight = _harmonic_indicator_blocks(own, fill, s)
    take_b = weight > 0.5
    if s == 1:
        return partial & take_b[dy : dy + h, dx : dx + w]
    take = _expand_blocks(take_b.view(np.uint8), s, dy, dy + h, dx, dx + w).view(bool)
    take &= partial
    # pixels of blocks next to the crossing: every pixel of each such block, inside the crop
    mixed_b = ndi.maximum_filter(take_b, size=3) != ndi.minimum_filter(take_b, size=3)
    by, bx = np.nonzero(mixed_b)
    within = np.arange(s)
    py = (by[:, None, None] * s + within[None, :, None]).repeat(s, axis=2).ravel() - dy
    px = (bx[:, None, None] * s + within[None, None, :]).repeat(s, axis=1).ravel() - dx
    inside = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    py, px = py[inside], px[inside]
    hidden = partial[py, px]
    py, px = py[hidden], px[hidden]
    if py.size:
        coords = np.stack([(py + dy + 0.5) / s - 0.5, (px + dx + 0.5) / s - 0.5])
        take[py, px] = ndi.map_coordinates(weight, coords, order=1, mode="nearest") > 0.5
    return take


def _harmonic_indicator_blocks(own: np.ndarray, fill: np.ndarray, s: int) -> np.ndarray:
    """float64 (hb, wb) in [0, 1]: the layer's harmonic indicator on s x s blocks.

    Known blocks (holding a pixel outside `fill`) keep the share of `own` among their known
    pixels; hidden blocks are solved, those of hidden components touching no block with some of
    the layer stay 0.
    """
    known = _block_sums(~fill, s)
    values = _block_sums(own, s) / np.maximum(known, 1)
    unknown = known == 0
    comps, n_comps = ndi.label(unknown)
    touching = ndi.binary_dilation(values > 0) & unknown
    keep = np.zeros(n_comps + 1, bool)
    keep[comps[touching]] = True
    keep[0] = False
    hb, wb = values.shape
    cells = np.flatnonzero(keep[comps].ravel())
    if cells.size:
        flat = values.reshape(-1, 1)
        values.reshape(-1)[cells] = _solve_laplace(cells, flat, hb, wb)[:, 0]
    return values


def _expand_blocks(blocks: np.ndarray, s: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Pixels [r0:r1, c0:c1] of `blocks` (hb, wb) upsampled by s (nearest), rows C-contiguous.

    Broadcast assignments (columns, then rows) rather than np.repeat, which is ~10x slower.
    """
    if s == 1:
        return np.ascontiguousarray(blocks[r0:r1, c0:c1])
    rb0, rb1, cb0, cb1 = r0 // s, -(-r1 // s), c0 // s, -(-c1 // s)
    sub = blocks[rb0:rb1, cb0:cb1]
    wide = np.empty(sub.shape + (s,), blocks.dtype)
    wide[...] = sub[..., None]
    wide = wide.reshape(sub.shape[0], -1)[:, c0 - cb0 * s : c1 - cb0 * s]
    tall = np.empty((sub.shape[0], s, c1 - c0), blocks.dtype)
    tall[...] = wide[:, None, :]
    return tall.reshape(-1, c1 - c0)[r0 - rb0 * s : r1 - rb0 * s]


_OPAQUE32 = np.array([0, 0, 0, 255], np.uint8).view(np.uint32)[0]


def _as_uint32(rgba: np.ndarray) -> np.ndarray:
    """uint8 (h, w, 4) -> uint32 (h, w), one RGBA pixel per element (a copy if not contiguous)."""
    return np.ascontiguousarray(rgba).view(np.uint32)[..., 0]


def _grid_factor(n_pixels: int, max_cells: int) -> int:
    return max(1, int(math.ceil(math.sqrt(n_pixels / max(1, max_cells)))))


def _blocks(array: np.ndarray, s: int, pad_value: object) -> np.ndarray:
    """(H, W, ...) -> (ceil(H/s), ceil(W/s), s*s, ...) block view (a padded copy)."""
    h, w = array.shape[:2]
    hb, wb = -(-h // s), -(-w // s)
    padded = np.full((hb * s, wb * s) + array.shape[2:], pad_value, array.dtype)
    padded[:h, :w] = array
    blocked = padded.reshape((hb, s, wb, s) + array.shape[2:]).swapaxes(1, 2)
    return blocked.reshape((hb, wb, s * s) + array.shape[2:])


def _block_sums(mask: np.ndarray, s: int) -> np.ndarray:
    """int32 (ceil(h/s), ceil(w/s)): how many pixels of bool `mask` (h, w) each s x s block holds."""
    h, w = mask.shape
    hb, wb = -(-h // s), -(-w // s)
    if (hb * s, wb * s) != (h, w):
        padded = np.zeros((hb * s, wb * s), bool)
        padded[:h, :w] = mask
        mask = padded
    rows = mask.reshape(hb * s, wb, s).sum(axis=2, dtype=np.int32)
    return rows.reshape(hb, s, wb).sum(axis=1, dtype=np.int32)


def _nearest_reps(fill: np.ndarray, own: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Closest-point fill on s×s blocks: the (row, col) in the crop of each block's nearest known
    representative pixel, int arrays (hb, wb) (per pixel when s == 1).

    A block is known when it holds a non-hidden pixel (~fill); its representative is its first own
    pixel, else its first non-hidden one. Every block takes the representative of the nearest
    known block (itself if known).
    """
    if s == 1:
        iy, ix = ndi.distance_transform_edt(fill, return_distances=False, return_indices=True)
        return iy, ix
    h, w = own.shape
    score = own.view(np.int8) * np.int8(2)
    score |= ~fill
    score_b = _blocks(score, s, np.int8(0))
    rep = np.argmax(score_b, axis=2)
    unknown = np.take_along_axis(score_b, rep[..., None], axis=2)[..., 0] == 0
    del score, score_b
    hb, wb = rep.shape
    rep_y = np.minimum(np.arange(hb)[:, None] * s + rep // s, h - 1)
    rep_x = np.minimum(np.arange(wb)[None, :] * s + rep % s, w - 1)
    ky, kx = ndi.distance_transform_edt(unknown, return_distances=False, return_indices=True)
    return rep_y[ky, kx], rep_x[ky, kx]


def _harmonic_blocks(
    own: np.ndarray, fill: np.ndarray, rgba_c: np.ndarray, s: int
) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic fill on s×s blocks: (take bool (hb, wb), colour uint32 RGBA (hb, wb)).

    Solves the Laplace equation on hidden blocks for w (share of the layer's own pixels) and u
    (w times the layer's colour), with Dirichlet values from blocks holding non-hidden pixels and
    zero flux at the crop border; hidden pixels join the layer where w > 0.5, coloured u / w.
    """
    fill_b = _blocks(fill, s, True)
    own_b = _blocks(own, s, False)
    hb, wb = fill_b.shape[:2]
    known_count = (~fill_b).sum(axis=2).astype(np.float64)
    unknown = known_count == 0
    rgb_b = _blocks(rgba_c[..., :3], s, 0).astype(np.float64)
    values = np.zeros((hb, wb, 4))
    safe = np.maximum(known_count, 1.0)
    values[..., 0] = own_b.sum(axis=2) / safe
    values[..., 1:] = (rgb_b * own_b[..., None]).sum(axis=2) / safe[..., None]
    # only hidden components touching a block with some of the layer get a non-zero solution
    comps, n_comps = ndi.label(unknown)
    touching = ndi.binary_dilation(values[..., 0] > 0) & unknown
    keep = np.zeros(n_comps + 1, bool)
    keep[np.unique(comps[touching])] = True
    keep[0] = False
    solution = values.copy()
    cells = np.flatnonzero(keep[comps].ravel())
    if cells.size:
        solution.reshape(-1, 4)[cells] = _solve_laplace(cells, values.reshape(-1, 4), hb, wb)
    weight = solution[..., 0]
    take = weight > 0.5
    colour = solution[..., 1:] / np.maximum(weight, 1e-12)[..., None]
    rgba_b = np.empty((hb, wb, 4), np.uint8)
    rgba_b[..., :3] = np.clip(np.rint(colour), 0, 255).astype(np.uint8)
    rgba_b[..., 3] = 255
    return take, rgba_b.view(np.uint32)[..., 0]


def _solve_laplace(cells: np.ndarray, values: np.ndarray, hb: int, wb: int) -> np.ndarray:
    """Discrete Laplace on grid `cells` (flat ids) with Dirichlet `values` (n, k) elsewhere."""
    index = np.full(hb * wb, -1, np.int64)
    index[cells] = np.arange(cells.size)
    cy, cx = np.divmod(cells, wb)
    rows_l, cols_l = [np.arange(cells.size)], [np.arange(cells.size)]
    diag = np.zeros(cells.size)
    rhs = np.zeros((cells.size, values.shape[1]))
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = cy + dy, cx + dx
        inside = (ny >= 0) & (ny < hb) & (nx >= 0) & (nx < wb)
        diag += inside
        nb = np.where(inside, ny * wb + nx, 0)
        nb_index = np.where(inside, index[nb], -1)
        inner = nb_index >= 0
        rows_l.append(np.flatnonzero(inner))
        cols_l.append(nb_index[inner])
        boundary = inside & ~inner
        rhs[boundary] += values[nb[boundary]]
    rows = np.concatenate(rows_l)
    cols = np.concatenate(cols_l)
    data = np.concatenate([diag, -np.ones(rows.size - cells.size)])
    matrix = coo_matrix((data, (rows, cols)), shape=(cells.size, cells.size)).tocsc()
    return splu(matrix).solve(rhs)
