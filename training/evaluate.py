"""Evaluate a model (and the heuristic baselines) on a dataset split with the paper's metrics.

Every method sees each image at its native resolution (the model through
``model.predict_index_map``, torch or onnxruntime) and is scored against the label map with
``training.metrics.all_metrics`` (same pairs for every method: the seed is fixed).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import model as model_pkg
from model import predict_index_map
from model.loading import DEFAULT_NAME
from training.datasets import load_pair, read_records
from training.metrics import DEFAULT_PAIRS, DEFAULT_SEED, METRIC_NAMES, all_metrics, mean_metrics

Predictor = Callable[[np.ndarray], np.ndarray]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("order", "Order"),
    ("order_strict", "Order strict"),
    ("order_fg", "Order-FG"),
    ("si_mae", "SI-MAE"),
    ("si_mse", "SI-MSE"),
)


class EvaluationError(ValueError):
    """Evaluation that cannot run (missing model, empty split); the message says which."""


@dataclass(frozen=True)
class EvalReport:
    """Per-image and mean metrics of each method.

    summary: method → metric → mean over images (NaN-ignoring); images: one dict per image with
    ``name``, ``height``, ``width``, ``visible_pieces`` and ``metrics`` (method → metric → value).
    """

    data_dir: str
    split: str | None
    methods: list[str]
    summary: dict[str, dict[str, float]]
    images: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as null)."""

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
                "methods": self.methods,
                "metrics": list(METRIC_NAMES),
                "num_images": len(self.images),
                "summary": self.summary,
                "images": self.images,
            }
        )


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


def evaluate(
    methods: dict[str, Predictor],
    data_dir: str | os.PathLike[str],
    split: str | None = "val",
    limit: int | None = None,
    num_pairs: int = DEFAULT_PAIRS,
    seed: int = DEFAULT_SEED,
    progress: Callable[[int, int], None] | None = None,
    model_label: str | None = None,
) -> EvalReport:
    """Score every method on the split's images; ``progress(done, total)`` after each image."""
    if not methods:
        raise EvaluationError("nothing to evaluate: no model and no baseline")
    root = Path(data_dir)
    records = read_records(root, split)
    if limit is not None:
        records = records[: max(0, limit)]
    if not records:
        raise EvaluationError(f"{root}: no images in split {split or 'all'!r}")
    images: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        image, label = load_pair(root, rec.name)
        scores = {}
        for name, predict in methods.items():
            pred = np.asarray(predict(image), dtype=np.float32)
            if pred.shape != label.shape:
                raise EvaluationError(
                    f"{name}: prediction {pred.shape} for {rec.name} differs from its label {label.shape}"
                )
            scores[name] = all_metrics(pred, label, num_pairs=num_pairs, seed=seed)
        images.append(
            {
                "name": rec.name,
                "height": int(label.shape[0]),
                "width": int(label.shape[1]),
                "visible_pieces": int(label.max()),
                "metrics": scores,
            }
        )
        if progress is not None:
            progress(i + 1, len(records))
    summary = {name: mean_metrics([im["metrics"][name] for im in images]) for name in methods}
    return EvalReport(str(root), split, list(methods), summary, images, model_label)


def format_table(report: EvalReport) -> str:
    """Plain-text table: one row per method, the mean of each metric (↑ higher / ↓ lower better)."""
    arrows = {"si_mae": "↓", "si_mse": "↓"}
    heads = ["method"] + [f"{title} {arrows.get(key, '↑')}" for key, title in COLUMNS]
    rows = [
        [name] + [_fmt(report.summary[name][key]) for key, _ in COLUMNS] for name in report.methods
    ]
    widths = [max(len(r[c]) for r in [heads, *rows]) for c in range(len(heads))]
    lines = [
        "  ".join(
            h.ljust(w) if c == 0 else h.rjust(w)
            for c, (h, w) in enumerate(zip(heads, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append(
            "  ".join(
                v.ljust(w) if c == 0 else v.rjust(w)
                for c, (v, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    split = report.split or "all"
    lines.append(f"{len(report.images)} images, split {split}, {report.data_dir}")
    return "\n".join(lines)


def _fmt(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4f}"


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
