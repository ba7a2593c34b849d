"""A smaller copy of a dataset folder, for training at a low working size without decoding and
shrinking full-size PNGs at every step.

Each sample is shrunk so its long side is ``size`` px (aspect kept, never enlarged): the RGB image
with area (box) resampling, the label with nearest-neighbour (labels stay exact piece ids; a piece
thinner than the step may vanish, and the label is then no longer dense, which the dataset reader
and the metrics do not need). ``manifest.csv`` is copied (only rows whose files exist), plus
``resize.json`` (source folder, size). Incremental: samples already present are kept, so the copy
can follow a dataset that is still being built. Files are written atomically.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from decomposer.atomic import write_text_atomic
from training.dataset_cli import save_png
from training.datasets import DatasetError, load_pair

RESIZE_NAME = "resize.json"


def shrink_pair(image: np.ndarray, label: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 (h, w, 3), uint16 (h, w)) with max(h, w) = min(size, long side): box for the image,
    nearest for the label."""
    height, width = label.shape
    scale = min(1.0, size / max(height, width))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    if (h, w) == (height, width):
        return image, label.astype(np.uint16)
    small = np.asarray(Image.fromarray(image).resize((w, h), Image.BOX))
    lab = Image.fromarray(label.astype(np.int32)).resize((w, h), Image.NEAREST)
    return small, np.asarray(lab).astype(np.uint16)


def resize_dataset(source: Path, destination: Path, size: int) -> tuple[int, int]:
    """Copy ``source`` into ``destination`` at long side ``size`` px; returns (new, total) samples.

    Raises DatasetError if ``source`` is not a dataset folder with a manifest, or if
    ``destination`` already holds a copy of another folder or at another size.
    """
    if size < 8:
        raise DatasetError(f"size must be ≥ 8 px, got {size}")
    source, destination = Path(source), Path(destination)
    manifest = source / "manifest.csv"
    if not manifest.is_file() or not (source / "rgb").is_dir():
        raise DatasetError(f"{source}: not a dataset folder (needs rgb/, label/, manifest.csv)")
    if source.resolve() == destination.resolve():
        raise DatasetError(f"{destination}: is the source folder itself")
    info = {"source": str(source.resolve()), "size": size}
    marker = destination / RESIZE_NAME
    if marker.is_file():
        old = json.loads(marker.read_text(encoding="utf-8"))
        if old != info:
            raise DatasetError(
                f"{destination}: holds a copy of {old.get('source')} at {old.get('size')} px; "
                "choose another folder"
            )
    elif destination.exists() and any(destination.iterdir()):
        raise DatasetError(f"{destination}: exists and is not a resized dataset copy")
    with manifest.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    if "name" not in fields:
        raise DatasetError(f"{manifest}: needs a 'name' column")
    (destination / "rgb").mkdir(parents=True, exist_ok=True)
    (destination / "label").mkdir(exist_ok=True)
    write_text_atomic(marker, json.dumps(info, indent=1) + "\n")
    kept, new = [], 0
    for row in rows:
        name = row["name"]
        rgb, label = destination / "rgb" / f"{name}.png", destination / "label" / f"{name}.png"
        if not (rgb.is_file() and label.is_file()):
            if not (source / "rgb" / f"{name}.png").is_file():
                continue  # listed but not (yet) written by a running build
            image, lab = shrink_pair(*load_pair(source, name), size)
            save_png(lab, label)
            save_png(np.ascontiguousarray(image), rgb)
            new += 1
        kept.append(row)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    write_text_atomic(destination / "manifest.csv", text.getvalue())
    return new, len(kept)
