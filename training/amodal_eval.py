"""How well completion reconstructs what is hidden: amodal IoU per completion mode.

The isolation labeller renders every piece alone, so a dataset built with it keeps each rank's
full (amodal) mask (`training.amodal`, `DIR/amodal/NAME.npz`). For one image and one completion
mode the image is decomposed with its own label as the index map and ordering "median" (the
true order, so that only completion is scored), and every layer n is compared with the union
T_n of the full masks of the pieces it holds (a piece is held by the layer owning most of its visible pixels; the
background, rank 0, is a full-canvas piece; by default as many layers are asked for as the image
has pieces, and layers that hold no piece's majority are left out):

- amodal IoU: IoU of the layer's completed mask P_n (alpha > 0) with T_n, mean over layers;
- hidden IoU: the same on what is not visible of the layer (P_n and T_n less its visible
  pixels), pooled over the layers of the image; it scores the invented part alone;
- flat share: share of invented pixels whose colour is exactly the flat colour of a region of
  their own layer (no streaks, no blends);
- colour match: share of the invented pixels inside the true hidden extent whose colour is
  within `COLOUR_TOLERANCE` (max RGB channel difference) of the true piece there (the topmost
  held piece whose full mask covers the pixel; its colour is the median of its visible pixels).
Image scores are averaged over images (NaN-ignoring).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from decomposer import DecomposeOptions, decompose
from decomposer.types import Decomposition
from training.amodal import AmodalMasks
from training.datasets import (
    DatasetError,
    load_pair,
    read_records,
    sample_amodal,
    spread_records,
)

COLOUR_TOLERANCE = 16
METRICS = ("amodal_iou", "hidden_iou", "flat_share", "colour_match")
# (label, completion, continuation): the modes compared by default; "regions" is the default
MODES: tuple[tuple[str, str, str], ...] = (
    ("regions", "regions", "harmonic"),
    ("regions+closest", "regions", "closest"),
    ("regions+convex", "regions", "convex"),
    ("regions+mix", "regions", "mix"),
    ("nearest", "nearest", "closest"),
    ("harmonic", "harmonic", "closest"),
    ("none", "none", "closest"),
)
TITLES = {
    "amodal_iou": "amodal IoU",
    "hidden_iou": "hidden IoU",
    "flat_share": "flat colour",
    "colour_match": "true colour",
}


@dataclass(frozen=True)
class AmodalReport:
    """Mean and per-image amodal scores per completion mode.

    summary: mode label -> metric -> mean over images (NaN-ignoring); images: one dict per image
    (name, layers, scores: mode -> metric -> value).
    """

    data_dir: str
    split: str | None
    layers: int | str
    modes: list[str]
    summary: dict[str, dict[str, float]]
    images: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as null)."""

        def clean(x: Any) -> Any:
            if isinstance(x, float) and not math.isfinite(x):
                return None
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, list):
                return [clean(v) for v in x]
            return x

        return clean(
            {
                "data_dir": self.data_dir,
                "split": self.split,
                "layers": self.layers,
                "modes": self.modes,
                "metrics": list(METRICS),
                "num_images": len(self.images),
                "summary": self.summary,
                "images": self.images,
            }
        )


def layer_targets(
    dec: Decomposition, label: np.ndarray, amodal: AmodalMasks
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """(T_n per layer, piece map per layer, owner map) for a decomposition of a labelled image.

    T_n: bool (H, W) union of the full masks of the pieces layer n holds; piece map: int (H, W)
    the topmost held rank whose full mask covers each pixel (-1 none, 0 = background); owner:
    int (H, W) the layer owning each visible pixel (-1 none).
    """
    regions = dec.regions
    if regions is None:
        raise ValueError("the decomposition has no regions to match pieces with")
    h, w = label.shape
    owner = np.where(regions.labels >= 0, regions.layer_of_region[regions.labels], -1)
    n_layers = len(dec.layers)
    ranks = int(label.max())
    seen = owner >= 0
    votes = np.zeros((ranks + 1, n_layers), np.int64)
    np.add.at(votes, (label[seen], owner[seen]), 1)
    holder = np.where(votes.sum(axis=1) > 0, votes.argmax(axis=1), -1)
    targets, pieces = [], []
    for n in range(n_layers):
        target = np.zeros((h, w), bool)
        piece = np.full((h, w), -1, np.int32)
        for rank in np.flatnonzero(holder == n):
            if rank == 0:
                full = np.ones((h, w), bool)
            elif rank <= amodal.count:
                full = amodal.mask(int(rank))
            else:
                full = label == rank
            target |= full
            piece[full] = rank
        targets.append(target)
        pieces.append(piece)
    return targets, pieces, owner


def image_scores(
    dec: Decomposition, rgb: np.ndarray, label: np.ndarray, amodal: AmodalMasks
) -> dict[str, float]:
    """The four scores (see module docstring) of one decomposition of a labelled image."""
    targets, pieces, owner = layer_targets(dec, label, amodal)
    h, w = label.shape
    piece_rgb = _piece_colours(rgb, label)
    regions = dec.regions
    ious, inter_h, union_h = [], 0, 0
    invented_total = flat_total = matched_total = match_seen = 0
    for n, layer in enumerate(dec.layers):
        completed = np.zeros((h, w), bool)
        canvas_rgb = np.zeros((h, w, 3), np.uint8)
        x, y = layer.offset
        lh, lw = layer.rgba.shape[:2]
        completed[y : y + lh, x : x + lw] = layer.rgba[..., 3] > 0
        canvas_rgb[y : y + lh, x : x + lw] = layer.rgba[..., :3]
        target, visible = targets[n], owner == n
        if not target.any():
            continue  # a layer that holds no piece's majority (a fragment): nothing to match
        ious.append(np.count_nonzero(completed & target) / np.count_nonzero(completed | target))
        hidden_p, hidden_t = completed & ~visible, target & ~visible
        inter_h += int(np.count_nonzero(hidden_p & hidden_t))
        union_h += int(np.count_nonzero(hidden_p | hidden_t))
        if not hidden_p.any():
            continue
        colours = canvas_rgb[hidden_p]
        invented_total += len(colours)
        own = regions.colours[regions.layer_of_region == n]
        flat_total += int(np.count_nonzero(_in_palette(colours, own)))
        inside = hidden_p & hidden_t & (pieces[n] >= 0)
        if inside.any():
            truth = piece_rgb[pieces[n][inside]]
            diff = np.abs(canvas_rgb[inside].astype(np.int16) - truth.astype(np.int16)).max(axis=1)
            matched_total += int(np.count_nonzero(diff <= COLOUR_TOLERANCE))
            match_seen += int(inside.sum())
    return {
        "amodal_iou": float(np.mean(ious)) if ious else math.nan,
        "hidden_iou": inter_h / union_h if union_h else math.nan,
        "flat_share": flat_total / invented_total if invented_total else math.nan,
        "colour_match": matched_total / match_seen if match_seen else math.nan,
    }


def _piece_colours(rgb: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Median RGB of each rank's visible pixels: uint8 (K + 1, 3) (row 0 = background)."""
    from decomposer.regions import region_median_rgb

    rgba = np.dstack([rgb, np.full(label.shape, 255, np.uint8)])
    return region_median_rgb(label.astype(np.int32), rgba, int(label.max()) + 1)


def _in_palette(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """bool (n,): colours (n, 3) that are exactly one of palette (P, 3)."""
    if len(palette) == 0:
        return np.zeros(len(colours), bool)
    pack = lambda c: (c[:, 0].astype(np.int64) << 16) | (c[:, 1].astype(np.int64) << 8) | c[:, 2]  # noqa: E731
    return np.isin(pack(colours), pack(palette))


def evaluate_amodal(
    data_dir: str | Path,
    split: str | None = "val",
    *,
    modes: Sequence[tuple[str, str, str]] = MODES,
    layers: int | str | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> AmodalReport:
    """Score every completion mode on the split's images that have amodal masks.

    layers: the layer count asked for; None = each image's true count (its visible pieces plus
    the background), so that ideally every layer is one piece.
    """
    root = Path(data_dir)
    records = read_records(root, split)
    with_masks = [(r, sample_amodal(root, r.name)) for r in records]
    usable = [(r, masks) for r, masks in with_masks if masks is not None]
    if limit is not None:  # evenly spaced by name, as decompose-eval's other tracks
        keep = {r.name for r in spread_records([r for r, _ in usable], limit)}
        usable = [(r, masks) for r, masks in usable if r.name in keep]
    if not usable:
        raise DatasetError(
            f"{root}: no images with amodal masks (amodal/NAME.npz) in split {split or 'all'!r}"
        )
    images: list[dict[str, Any]] = []
    for i, (record, masks) in enumerate(usable):
        rgb, label = load_pair(root, record.name)
        if masks.shape != label.shape:
            raise DatasetError(f"{root}/amodal/{record.name}.npz: shape differs from its label")
        scores = {}
        count = layers if layers is not None else int(np.unique(label).size)
        for title, completion, continuation in modes:
            options = DecomposeOptions(
                layers=count, ordering="median", completion=completion, continuation=continuation
            )
            dec = decompose(rgb, options, index_map=label.astype(np.float32))
            scores[title] = image_scores(dec, rgb, label, masks)
        images.append({"name": record.name, "layers": len(dec.layers), "scores": scores})
        if progress is not None:
            progress(i + 1, len(usable))
    summary = {
        title: {
            metric: _nanmean([im["scores"][title][metric] for im in images]) for metric in METRICS
        }
        for title, _, _ in modes
    }
    return AmodalReport(
        str(root), split, layers or "true", [title for title, _, _ in modes], summary, images
    )


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def format_amodal_table(report: AmodalReport) -> str:
    """Plain-text table: one row per completion mode, the mean of each score (higher = better)."""
    heads = ["completion"] + [f"{TITLES[m]} ↑" for m in METRICS]
    rows = [[mode] + [_fmt(report.summary[mode][m]) for m in METRICS] for mode in report.modes]
    widths = [max(len(r[c]) for r in [heads, *rows]) for c in range(len(heads))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if c == 0 else cell.rjust(width)
            for c, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [line(heads), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
    split = report.split or "all"
    lines.append(
        f"{len(report.images)} images with amodal masks, split {split}, {report.layers} layers, "
        f"true order (label as index map), {report.data_dir}"
    )
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"
