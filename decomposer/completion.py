"""Amodal completion and assembly of layer pixels from an ownership map.

Every visible pixel is owned by exactly one layer (`owner`, -1 = fully transparent, owned by
none) and appears in that layer with its original colour and alpha. Completion adds *invented*
pixels to layer n only where a layer above owns a fully opaque pixel (owner > n, alpha 255), so
compositing the layers bottom -> top reproduces the input exactly (see decomposer.composite).

Modes (paper §7 step 4, extended to colour):
- "nearest": a hidden pixel joins layer n when its nearest non-hidden pixel (Euclidean) belongs to
  layer n, and takes that pixel's colour (closest-point fill, one distance transform per layer).
- "harmonic": smoother; the layer indicator and the layer's colour are interpolated harmonically
  (Laplace equation) into the hidden area; pixels where the indicator exceeds 0.5 join the layer,
  coloured by the interpolated colour of the layer's own visible pixels.
- "none": layers hold their visible pixels only.
Work is confined to the layer's bounding box grown by a margin (completion never reaches further);
on large crops the fill is computed on a coarser grid (`max_work_pixels`), which only changes
invented pixels, never visible ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import splu

COMPLETION_MODES = ("nearest", "harmonic", "none")


@dataclass(frozen=True)
class CompletionConfig:
    """Parameters of layer completion.

    mode: "nearest" | "harmonic" | "none".
    margin_fraction / margin_min: the working crop is the layer's visible bounding box grown by
        max(margin_min, margin_fraction * longest side) pixels on each side.
    max_work_pixels: "nearest" runs its distance transform on a grid coarsened by an integer factor
        so that the crop has at most this many cells (1 = full resolution when small enough).
    max_harmonic_cells: the same bound for the "harmonic" linear solve.
    """

    mode: str = "nearest"
    margin_fraction: float = 0.5
    margin_min: int = 8
    max_work_pixels: int = 1_000_000
    max_harmonic_cells: int = 200_000

    def __post_init__(self) -> None:
        if self.mode not in COMPLETION_MODES:
            raise ValueError(
                f"completion must be one of {', '.join(COMPLETION_MODES)}, got {self.mode!r}"
            )


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
) -> list[LayerPixels]:
    """Assemble (and complete) every layer, bottom -> top.

    owner: int (H, W) layer id in [0, n_layers) or -1; rgba: uint8 (H, W, 4) input pixels.
    """
    if owner.shape != rgba.shape[:2]:
        raise ValueError(f"owner {owner.shape} and image {rgba.shape[:2]} differ in shape")
    boxes = ndi.find_objects(owner.astype(np.int32) + 1, max_label=n_layers)
    return [_build_layer(n, box, owner, rgba, config) for n, box in enumerate(boxes)]


def _build_layer(
    n: int,
    box: tuple[slice, slice] | None,
    owner: np.ndarray,
    rgba: np.ndarray,
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
    own = own_c == n
    fill = (own_c > n) & (rgba_c[..., 3] == 255)
    inv_y = inv_x = np.zeros(0, np.int64)
    inv_rgb = np.zeros((0, 3), np.uint8)
    if config.mode != "none" and fill.any():
        if config.mode == "nearest":
            inv_y, inv_x, inv_rgb = _nearest_fill(own, fill, rgba_c, config.max_work_pixels)
        else:
            inv_y, inv_x, inv_rgb = _harmonic_fill(own, fill, rgba_c, config.max_harmonic_cells)
    mask = own.copy()
    mask[inv_y, inv_x] = True
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    out = np.zeros((r1 - r0, c1 - c0, 4), np.uint8)
    np.copyto(out, rgba_c[r0:r1, c0:c1], where=own[r0:r1, c0:c1, None])
    out[inv_y - r0, inv_x - c0, :3] = inv_rgb
    out[inv_y - r0, inv_x - c0, 3] = 255
    visible = int(np.count_nonzero(own))
    return LayerPixels(out, (int(xs.start + c0), int(ys.start + r0)), visible, int(inv_y.size))


def _grid_factor(n_pixels: int, max_cells: int) -> int:
    return max(1, int(math.ceil(math.sqrt(n_pixels / max(1, max_cells)))))


def _blocks(mask: np.ndarray, s: int, pad_value: bool) -> np.ndarray:
    """bool (H, W) -> (H/s, W/s, s*s) block view, padded with `pad_value`."""
    h, w = mask.shape
    hb, wb = -(-h // s), -(-w // s)
    padded = np.full((hb * s, wb * s), pad_value, bool)
    padded[:h, :w] = mask
    return padded.reshape(hb, s, wb, s).transpose(0, 2, 1, 3).reshape(hb, wb, s * s)


def _nearest_fill(
    own: np.ndarray, fill: np.ndarray, rgba_c: np.ndarray, max_cells: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest-point fill: (rows, cols, uint8 (k, 3) colours) of invented pixels in the crop."""
    fy, fx = np.nonzero(fill)
    s = _grid_factor(fill.size, max_cells)
    if s == 1:
        iy, ix = ndi.distance_transform_edt(fill, return_distances=False, return_indices=True)
        qy, qx = iy[fy, fx], ix[fy, fx]
    else:
        fill_b = _blocks(fill, s, True)
        own_b = _blocks(own, s, False)
        unknown = fill_b.all(axis=2)
        # representative pixel of each block: its first own pixel, else its first non-hidden one
        score = own_b.astype(np.int8) * 2 + (~fill_b).astype(np.int8)
        rep = np.argmax(score, axis=2)
        by, bx = np.indices(unknown.shape)
        rep_y, rep_x = by * s + rep // s, bx * s + rep % s
        ky, kx = ndi.distance_transform_edt(unknown, return_distances=False, return_indices=True)
        cy, cx = fy // s, fx // s
        ny, nx = ky[cy, cx], kx[cy, cx]
        qy, qx = rep_y[ny, nx], rep_x[ny, nx]
    take = own[qy, qx]
    return fy[take], fx[take], rgba_c[qy[take], qx[take], :3]


def _harmonic_fill(
    own: np.ndarray, fill: np.ndarray, rgba_c: np.ndarray, max_cells: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Harmonic fill: (rows, cols, uint8 (k, 3) colours) of invented pixels in the crop.

    Solves the Laplace equation on hidden cells for w (share of the layer's own pixels) and u
    (w times the layer's colour), with Dirichlet values from non-hidden cells and zero flux at the
    crop border; a hidden pixel joins the layer where w > 0.5 and gets colour u / w.
    """
    s = _grid_factor(fill.size, max_cells)
    fill_b = _blocks(fill, s, True)
    own_b = _blocks(own, s, False)
    hb, wb = fill_b.shape[:2]
    known_count = (~fill_b).sum(axis=2).astype(np.float64)
    unknown = known_count == 0
    rgb = np.zeros((hb * s, wb * s, 3), np.float64)
    rgb[: own.shape[0], : own.shape[1]] = rgba_c[..., :3]
    rgb_b = rgb.reshape(hb, s, wb, s, 3).transpose(0, 2, 1, 3, 4).reshape(hb, wb, s * s, 3)
    values = np.zeros((hb, wb, 4))
    safe = np.maximum(known_count, 1.0)
    values[..., 0] = own_b.sum(axis=2) / safe
    values[..., 1:] = (rgb_b * own_b[..., None]).sum(axis=2) / safe[..., None]
    # only hidden components touching a cell with some of the layer can get a non-zero solution
    comps, n_comps = ndi.label(unknown)
    touching = ndi.binary_dilation(values[..., 0] > 0) & unknown
    keep = np.zeros(n_comps + 1, bool)
    keep[np.unique(comps[touching])] = True
    keep[0] = False
    solve = keep[comps]
    solution = values.copy()
    cells = np.flatnonzero(solve.ravel())
    if cells.size:
        index = np.full(hb * wb, -1, np.int64)
        index[cells] = np.arange(cells.size)
        cy, cx = np.divmod(cells, wb)
        rows_l, cols_l, diag = [], [], np.zeros(cells.size)
        rhs = np.zeros((cells.size, 4))
        flat_values = values.reshape(-1, 4)
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
            rhs[boundary] += flat_values[nb[boundary]]
        rows = np.concatenate([np.arange(cells.size), *rows_l])
        cols = np.concatenate([np.arange(cells.size), *cols_l])
        data = np.concatenate([diag, -np.ones(rows.size - cells.size)])
        matrix = coo_matrix((data, (rows, cols)), shape=(cells.size, cells.size)).tocsc()
        x = splu(matrix).solve(rhs)
        solution.reshape(-1, 4)[cells] = x
    weight = solution[..., 0]
    fy, fx = np.nonzero(fill)
    wy, wx = fy // s, fx // s
    take = weight[wy, wx] > 0.5
    fy, fx, wy, wx = fy[take], fx[take], wy[take], wx[take]
    colour = solution[wy, wx, 1:] / weight[wy, wx, None]
    return fy, fx, np.clip(np.rint(colour), 0, 255).astype(np.uint8)
