"""The paper's vectorisation track (Track B): our layered SVG against VTracer's own stacking.

For every image of a dataset split two SVGs are made: ours (`decomposer`: the model's index map,
the default pipeline, `decomposer.writers.svg`) and VTracer's (`vtracer`, colour mode, the
paper's settings: hierarchical "stacked", mode "none", speckle 8, colour precision 7, layer
difference 5). Each is scored like the paper does:

- Order (lenient, strict) and Order-FG of its *paint order* against the label: every layer's
  paths are recoloured with one unique colour (ours: one per layer group; VTracer: one per path,
  its stacking being the paint order), rendered with crisp edges, and the colour read back as a
  per-pixel index (0 where nothing is painted) that `training.metrics` scores;
- RGB MSE (values in [0, 1]) and SSIM (skimage, data range 1) of the normal rendering, over
  white, against the input;
- layer-count error |K_pred - K_gt| / K_gt, K = the number of distinct visible layers (paint
  indices / label ranks, background excluded);
- paths: number of `<path>` elements.
Image scores are averaged over images (NaN-ignoring).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from decomposer import DecomposeOptions, decompose
from decomposer.svg_render import render_svg
from decomposer.writers.svg import INKSCAPE_NS, SVG_NS, svg_document
from training.datasets import DatasetError, load_pair, read_records, spread_records
from training.metrics import DEFAULT_PAIRS, DEFAULT_SEED, all_metrics

# VTracer's own layered output with the paper's settings (paper §7, official code)
VTRACER_PAPER = {
    "colormode": "color",
    "hierarchical": "stacked",
    "mode": "none",
    "filter_speckle": 8,
    "color_precision": 7,
    "layer_difference": 5,
    "corner_threshold": 60,
    "length_threshold": 4.0,
    "max_iterations": 10,
    "splice_threshold": 45,
    "path_precision": 3,
}
METRICS = ("order", "order_strict", "order_fg", "rgb_mse", "ssim", "layer_error", "paths")
TITLES = {
    "order": "Order ↑",
    "order_strict": "Order strict ↑",
    "order_fg": "Order-FG ↑",
    "rgb_mse": "RGB MSE ↓",
    "ssim": "SSIM ↑",
    "layer_error": "layer err ↓",
    "paths": "paths",
}
METHODS = ("ours", "vtracer")


@dataclass(frozen=True)
class VectorReport:
    """Mean and per-image Track B scores: summary method -> metric -> mean; images: one dict per
    image (name, scores: method -> metric -> value)."""

    data_dir: str
    split: str | None
    model: str
    layers: int | str
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
                "model": self.model,
                "layers": self.layers,
                "methods": list(METHODS),
                "metrics": list(METRICS),
                "num_images": len(self.images),
                "summary": self.summary,
                "images": self.images,
            }
        )


def vtracer_svg(rgb: np.ndarray) -> str:
    """VTracer's stacked colour SVG of an RGB uint8 (H, W, 3) image (paper settings)."""
    import vtracer

    from decomposer.pixels import png_bytes

    return vtracer.convert_raw_image_to_svg(
        png_bytes(rgb, "RGB"), img_format="png", **VTRACER_PAPER
    )


def paint_order_map(svg: str, width: int, height: int, *, by_layer: bool) -> np.ndarray:
    """int64 (height, width) paint index per pixel (1 = first painted, 0 = nothing).

    by_layer: one index per Inkscape layer group (our SVG); else one per `<path>` in document
    order (VTracer's stacking). Every path is recoloured with its index's unique colour, opacity
    removed, and the drawing rendered with crisp edges.
    """
    from lxml import etree

    root = etree.fromstring(svg.encode("utf-8"))
    paths = list(root.iter(f"{{{SVG_NS}}}path"))
    if by_layer:
        mode = f"{{{INKSCAPE_NS}}}groupmode"
        groups = [g for g in root.iter(f"{{{SVG_NS}}}g") if g.get(mode) == "layer"]
        index_of = {id(p): k + 1 for k, g in enumerate(groups) for p in g.iter(f"{{{SVG_NS}}}path")}
    else:
        index_of = {id(p): k + 1 for k, p in enumerate(paths)}
    for element in root.iter(f"{{{SVG_NS}}}image"):
        element.getparent().remove(element)
    for path in paths:
        k = index_of.get(id(path), 0)
        path.set("fill", f"#{k:06x}")
        for attribute in ("fill-opacity", "opacity", "style", "stroke"):
            path.attrib.pop(attribute, None)
    rgba = render_svg(etree.tostring(root, encoding="unicode"), width, height, crisp=True)
    ids = (
        rgba[..., 0].astype(np.int64) * 65536
        + rgba[..., 1].astype(np.int64) * 256
        + rgba[..., 2].astype(np.int64)
    )
    ids[rgba[..., 3] < 128] = 0
    return ids


def svg_scores(
    svg: str,
    rgb: np.ndarray,
    label: np.ndarray,
    *,
    by_layer: bool,
    num_pairs: int = DEFAULT_PAIRS,
    seed: int = DEFAULT_SEED,
) -> dict[str, float]:
    """Track B scores (see the module docstring) of one SVG of an RGB image with its label."""
    from skimage.metrics import structural_similarity

    from decomposer.image_io import flatten_alpha

    height, width = label.shape
    order = paint_order_map(svg, width, height, by_layer=by_layer)
    scores = all_metrics(order.astype(np.float32), label, num_pairs=num_pairs, seed=seed)
    rendered = flatten_alpha(render_svg(svg, width, height, crisp=False)).astype(np.float64) / 255
    truth = rgb.astype(np.float64) / 255
    k_pred = int(np.count_nonzero(np.unique(order)))
    k_true = int(np.count_nonzero(np.unique(label)))
    return {
        "order": scores["order"],
        "order_strict": scores["order_strict"],
        "order_fg": scores["order_fg"],
        "rgb_mse": float(np.mean((rendered - truth) ** 2)),
        "ssim": float(structural_similarity(rendered, truth, channel_axis=2, data_range=1.0)),
        "layer_error": abs(k_pred - k_true) / k_true if k_true else math.nan,
        "paths": float(len(re.findall(r"<path\b", svg))),
    }


def evaluate_vector(
    predict: Callable[[np.ndarray], np.ndarray] | None,
    data_dir: str | Path,
    split: str | None = "val",
    *,
    model_label: str = "default",
    layers: int | str = "auto",
    limit: int | None = None,
    num_pairs: int = DEFAULT_PAIRS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
    orderer: Any = None,
) -> VectorReport:
    """Score our SVG and VTracer's on the split's images, in the same run.

    Our SVG comes from the default pipeline (`DecomposeOptions(layers=layers)`, the graph
    orderer `orderer`, None = the shipped one); `predict` (RGB uint8 (H, W, 3) -> float32 (H, W),
    the network's index map) is run only when given, for an orderer that uses it.
    """
    root = Path(data_dir)
    records = read_records(root, split)
    records = spread_records(records, limit)
    if not records:
        raise DatasetError(f"{root}: no images in split {split or 'all'!r}")
    options = DecomposeOptions(layers=layers)
    images: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        rgb, label = load_pair(root, record.name)
        index_map = None if predict is None else np.asarray(predict(rgb), dtype=np.float32)
        dec = decompose(rgb, options, index_map=index_map, orderer=orderer)
        ours = svg_document(dec, extras=False)
        theirs = vtracer_svg(rgb)
        kwargs = {"num_pairs": num_pairs, "seed": seed}
        images.append(
            {
                "name": record.name,
                "scores": {
                    "ours": svg_scores(ours, rgb, label, by_layer=True, **kwargs),
                    "vtracer": svg_scores(theirs, rgb, label, by_layer=False, **kwargs),
                },
            }
        )
        if progress is not None:
            progress(i + 1, len(records))
    summary = {
        method: {m: _nanmean([im["scores"][method][m] for im in images]) for m in METRICS}
        for method in METHODS
    }
    return VectorReport(str(root), split, model_label, layers, summary, images)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def format_vector_table(report: VectorReport) -> str:
    """Plain-text Track B table: ours and VTracer, the mean of each score."""
    heads = ["method", *(TITLES[m] for m in METRICS)]
    labels = {
        "ours": f"ours ({report.model}, layers {report.layers})",
        "vtracer": "VTracer stacked",
    }
    rows = [
        [labels[method], *(_fmt(report.summary[method][m], m) for m in METRICS)]
        for method in METHODS
    ]
    widths = [max(len(r[c]) for r in [heads, *rows]) for c in range(len(heads))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.ljust(width) if c == 0 else cell.rjust(width)
            for c, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )

    lines = [line(heads), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
    lines.append(
        f"{len(report.images)} images, split {report.split or 'all'}, {report.data_dir} "
        "(Order on the SVGs' rasterised paint order; RGB MSE on [0, 1])"
    )
    return "\n".join(lines)


def _fmt(value: float, metric: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.1f}" if metric == "paths" else f"{value:.4f}"
