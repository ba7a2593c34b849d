"""Evaluate methods (the pipeline's orderings, a network, the baselines) on dataset splits.

A *method* maps a `Sample` (an image, its label, its source) to a `MethodRun`: an index map
(float32 (H, W), higher = front), optionally the `Decomposition` the pipeline wrote from it,
and its cost (seconds, regions). A plain predictor (RGB uint8 (H, W, 3) -> float32 (H, W)) is a
method too. *Views* say what of a run is scored (`VIEWS`):

* "index": the run's index map;
* "layers": the layers written, each pixel taking the index of the (top-most) layer that shows
  it (`layer_index_map`); NaN for runs without a decomposition.

Further views (e.g. a vectorised output, amodal masks) are added by registering a `Scorer` in
`VIEWS` from their own module. The network runs through ``model.predict_index_map`` (torch or
onnxruntime). Every view is scored against the label map with
``training.metrics.all_metrics`` (same pairs for every method: the seed is fixed). Means are
reported overall, over the mean of sources, and per source (the manifest's `source` column).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import model as model_pkg
from model import predict_index_map
from model.loading import DEFAULT_NAME
from training.datasets import load_pair, read_records, spread_records
from training.metrics import DEFAULT_PAIRS, DEFAULT_SEED, METRIC_NAMES, all_metrics, mean_metrics

Predictor = Callable[[np.ndarray], np.ndarray]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("order", "Order"),
    ("order_strict", "strict"),
    ("order_fg", "Order-FG"),
    ("si_mae", "SI-MAE"),
)
ALL_SOURCES = "all"
MEAN_OF_SOURCES = "mean of sources"


class EvaluationError(ValueError):
    """Evaluation that cannot run (missing model, empty split); the message says which."""


@dataclass(frozen=True)
class Sample:
    """One evaluation image: name, source, RGB uint8 (H, W, 3), label int64 (H, W) dense rank."""

    name: str
    source: str
    image: np.ndarray
    label: np.ndarray


@dataclass
class MethodRun:
    """What a method produced for one sample.

    index_map: float32 (H, W), higher = front. decomposition: the pipeline's result, or None.
    seconds: wall time of the method on this sample. regions: regions ordered (NaN if none).
    """

    index_map: np.ndarray
    decomposition: Any = None
    seconds: float = float("nan")
    regions: float = float("nan")


@dataclass(frozen=True)
class SampleMethod:
    """A method that takes the whole `Sample` (plain predictors take the RGB image only)."""

    run: Callable[[Sample], MethodRun]


Method = SampleMethod | Predictor
Scorer = Callable[[Sample, MethodRun, int, int], dict[str, float] | None]


def layer_index_map(decomposition: Any) -> np.ndarray:
    """float32 (H, W): the `index` of the top-most layer whose alpha > 0 at each pixel (pixels
    no layer shows: the lowest layer index)."""
    width, height = decomposition.canvas_size
    layers = decomposition.layers
    lowest = min((layer.index for layer in layers), default=0.0)
    out = np.full((height, width), lowest, np.float32)
    for layer in layers:  # bottom -> top: later layers overwrite
        x, y = layer.offset
        h, w = layer.rgba.shape[:2]
        shown = layer.rgba[..., 3] > 0
        out[y : y + h, x : x + w][shown] = layer.index
    return out


def _score_index(sample: Sample, run: MethodRun, num_pairs: int, seed: int) -> dict[str, float]:
    return all_metrics(run.index_map, sample.label, num_pairs=num_pairs, seed=seed)


def _score_layers(
    sample: Sample, run: MethodRun, num_pairs: int, seed: int
) -> dict[str, float] | None:
    if run.decomposition is None:
        return None
    layered = layer_index_map(run.decomposition)
    return all_metrics(layered, sample.label, num_pairs=num_pairs, seed=seed)


VIEWS: dict[str, Scorer] = {"index": _score_index, "layers": _score_layers}
"""View name -> scorer(sample, run, num_pairs, seed) -> metrics (None = not applicable)."""


@dataclass(frozen=True)
class EvalReport:
    """Per-image and mean metrics of each method, per view.

    summary: group -> method -> view -> metric -> mean over images (NaN-ignoring); groups are
    `ALL_SOURCES`, `MEAN_OF_SOURCES` and each source. stats: group -> method -> {"regions",
    "seconds"} means per image. images: one dict per image (name, source, height, width,
    visible_pieces, metrics: method -> view -> metric, stats: method -> {regions, seconds}).
    """

    data_dirs: list[str]
    split: str | None
    methods: list[str]
    views: list[str]
    summary: dict[str, dict[str, dict[str, dict[str, float]]]]
    stats: dict[str, dict[str, dict[str, float]]]
    images: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None

    def overall(self, method: str, view: str = "index") -> dict[str, float]:
        """Mean metrics of `method` in `view` over all images."""
        return self.summary[ALL_SOURCES][method][view]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null)."""
        return _clean(
            {
                "data_dirs": self.data_dirs,
                "split": self.split,
                "model": self.model,
                "methods": self.methods,
                "views": self.views,
                "metrics": list(METRIC_NAMES),
                "num_images": len(self.images),
                "summary": self.summary,
                "stats": self.stats,
                "images": self.images,
            }
        )


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def resolve_model(spec: str | None) -> tuple[str, Any]:
    """(label, network) for a model spec, resolved by ``model.load``: None or "default" (the
    shipped model), a save_pretrained folder, an .onnx/.pt file, or "random:PRESET" (untrained,
    labelled "... (untrained)"). EvaluationError with the model package's message otherwise."""
    try:
        source = model_pkg.resolve(spec)
        net = model_pkg.load(spec)
    except model_pkg.ModelError as exc:
        raise EvaluationError(" ".join(str(exc).split())) from exc
    if source.kind == "random":
        return f"{source.label} (untrained)", net
    if source.label == DEFAULT_NAME:
        return source.label, net
    path = Path(source.label)
    return f"{path.parent.name}/{path.name}".lstrip("/"), net


def model_predictor(net: Any, device: str | None = None, tta: bool = False) -> Predictor:
    """RGB uint8 (H, W, 3) -> float32 (H, W) with the network at its working size."""
    return lambda image: predict_index_map(net, image, device=device, tta=tta)


def _as_run(method: Method, sample: Sample) -> MethodRun:
    if isinstance(method, SampleMethod):
        return method.run(sample)
    clock = time.perf_counter()
    result = method(sample.image)
    return MethodRun(np.asarray(result, dtype=np.float32), seconds=time.perf_counter() - clock)


def evaluate(
    methods: dict[str, Method],
    data_dir: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    split: str | None = "val",
    limit: int | None = None,
    num_pairs: int = DEFAULT_PAIRS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
    model_label: str | None = None,
    views: Iterable[str] = ("index",),
) -> EvalReport:
    """Score every method in every view on the split's images of one or more dataset folders.

    limit: at most this many images per folder, evenly spaced in name order (names start with
    the source, so every source keeps its share). ``progress(done, total)`` after each image.
    """
    if not methods:
        raise EvaluationError("nothing to evaluate: no model and no baseline")
    view_names = list(views)
    unknown = [v for v in view_names if v not in VIEWS]
    if unknown:
        raise EvaluationError(f"unknown view(s) {', '.join(unknown)} (known: {', '.join(VIEWS)})")
    roots = (
        [Path(data_dir)] if isinstance(data_dir, str | os.PathLike) else [Path(d) for d in data_dir]
    )
    todo = []
    for root in roots:
        records = read_records(root, split)
        records = spread_records(records, limit)
        todo += [(root, rec) for rec in records]
    if not todo:
        names = ", ".join(str(r) for r in roots)
        raise EvaluationError(f"{names}: no images in split {split or 'all'!r}")
    images: list[dict[str, Any]] = []
    for i, (root, rec) in enumerate(todo):
        image, label = load_pair(root, rec.name)
        sample = Sample(rec.name, rec.source or root.name, image, label)
        scores: dict[str, dict[str, dict[str, float]]] = {}
        stats: dict[str, dict[str, float]] = {}
        for name, method in methods.items():
            run = _as_run(method, sample)
            if run.index_map.shape != label.shape:
                raise EvaluationError(
                    f"{name}: prediction {run.index_map.shape} for {rec.name} differs from its "
                    f"label {label.shape}"
                )
            scores[name] = {}
            for view in view_names:
                got = VIEWS[view](sample, run, num_pairs, seed)
                scores[name][view] = got if got is not None else _nan_metrics()
            stats[name] = {"seconds": float(run.seconds), "regions": float(run.regions)}
        images.append(
            {
                "name": rec.name,
                "source": sample.source,
                "height": int(label.shape[0]),
                "width": int(label.shape[1]),
                "visible_pieces": int(label.max()),
                "metrics": scores,
                "stats": stats,
            }
        )
        if progress is not None:
            progress(i + 1, len(todo))
    summary, stat_summary = _summaries(images, list(methods), view_names)
    return EvalReport(
        [str(r) for r in roots],
        split,
        list(methods),
        view_names,
        summary,
        stat_summary,
        images,
        model_label,
    )


def _nan_metrics() -> dict[str, float]:
    return {name: float("nan") for name in METRIC_NAMES}


def _summaries(
    images: list[dict[str, Any]], methods: list[str], views: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {ALL_SOURCES: images}
    by_source: dict[str, list[dict[str, Any]]] = {}
    for im in images:
        by_source.setdefault(im["source"], []).append(im)
    summary: dict[str, Any] = {}
    stats: dict[str, Any] = {}
    for group, members in [*groups.items(), *sorted(by_source.items())]:
        summary[group] = {
            m: {v: mean_metrics([im["metrics"][m][v] for im in members]) for v in views}
            for m in methods
        }
        stats[group] = {
            m: {k: _nanmean([im["stats"][m][k] for im in members]) for k in ("regions", "seconds")}
            for m in methods
        }
    if len(by_source) > 1:
        sources = sorted(by_source)
        summary[MEAN_OF_SOURCES] = {
            m: {
                v: {
                    metric: _nanmean([summary[s][m][v][metric] for s in sources])
                    for metric in METRIC_NAMES
                }
                for v in views
            }
            for m in methods
        }
        stats[MEAN_OF_SOURCES] = {
            m: {k: _nanmean([stats[s][m][k] for s in sources]) for k in ("regions", "seconds")}
            for m in methods
        }
        ordered = [ALL_SOURCES, MEAN_OF_SOURCES, *sources]
        summary = {g: summary[g] for g in ordered}
        stats = {g: stats[g] for g in ordered}
    return summary, stats


def _nanmean(values: list[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    return float(finite.mean()) if finite.size else float("nan")


def format_table(report: EvalReport, groups: Iterable[str] | None = None) -> str:
    """Plain-text tables, one per group (all images, mean of sources, each source): one row per
    method, the mean of each metric per view (↑ higher / ↓ lower better), regions and s/image."""
    arrows = {"si_mae": "↓", "si_mse": "↓"}
    heads = ["method"]
    for view in report.views:
        heads += [f"{view} {title} {arrows.get(key, '↑')}" for key, title in COLUMNS]
    heads += ["regions", "s/img"]
    lines: list[str] = []
    chosen = list(groups) if groups is not None else list(report.summary)
    for group in chosen:
        n = (
            len(report.images)
            if group in (ALL_SOURCES, MEAN_OF_SOURCES)
            else sum(im["source"] == group for im in report.images)
        )
        rows = []
        for name in report.methods:
            row = [name]
            for view in report.views:
                row += [_fmt(report.summary[group][name][view][key]) for key, _ in COLUMNS]
            st = report.stats[group][name]
            row += [_fmt(st["regions"], 1), _fmt(st["seconds"], 3)]
            rows.append(row)
        widths = [max(len(r[c]) for r in [heads, *rows]) for c in range(len(heads))]
        lines.append(f"{group} ({n} images)")
        for r in [heads, ["-" * w for w in widths], *rows]:
            lines.append(
                "  ".join(
                    v.ljust(w) if c == 0 else v.rjust(w)
                    for c, (v, w) in enumerate(zip(r, widths, strict=True))
                )
            )
        lines.append("")
    split = report.split or "all"
    lines.append(f"{len(report.images)} images, split {split}, {', '.join(report.data_dirs)}")
    return "\n".join(lines)


def _fmt(value: float, digits: int = 4) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.{digits}f}"


def write_report(report: EvalReport, path: str | os.PathLike[str]) -> Path:
    """Write the report as JSON atomically (temp file in the same folder, then os.replace)."""
    return write_json(report.to_dict(), path)


def write_json(document: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a JSON-ready dict atomically (temp file in the same folder, then os.replace)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1)
            f.write("\n")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
