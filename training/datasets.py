"""Torch dataset over the ``DIR/rgb/NAME.png`` + ``DIR/label/NAME.png`` layout.

``DIR/manifest.csv`` (name, source, licence, visible_pieces, split) selects the split; without a
manifest every ``rgb/*.png`` is used when ``split`` is None. Only rows in the manifest count, so
a dataset whose build is still running can be read (its manifest lists finished samples only).
``DIR/amodal/NAME.npz`` holds a sample's full mask per rank (`sample_amodal`). Each sample is resized to fit the
model's square working size S (aspect kept, longer side = S; bilinear for the image, nearest for the
label), centred and padded to S × S like inference does (edge-replicated image, label 0, mask
False).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from model.inference import fit_geometry
from training.amodal import AMODAL_FOLDER, AmodalMasks, load_amodal
from training.augment import densify, geometric_augment, photometric_augment
from training.config import AugmentConfig

SPLITS = ("train", "val")


class DatasetError(ValueError):
    """A dataset folder or file that cannot be used; the message names it."""


@dataclass(frozen=True)
class Record:
    """One manifest row: the sample's name, split and source ("" when the manifest has none)."""

    name: str
    split: str
    source: str = ""


def spread_records(records: list[Record], limit: int | None) -> list[Record]:
    """At most `limit` of `records` (None = all), evenly spaced in their order: on records sorted
    by name (names start with their source) every source keeps its share."""
    if limit is None or len(records) <= max(limit, 0):
        return list(records)
    if limit <= 0:
        return []
    pick = np.unique(np.linspace(0, len(records) - 1, limit).round())
    return [records[int(k)] for k in pick]


def read_records(root: Path, split: str | None, max_contact: int | None = None) -> list[Record]:
    """Samples of ``split`` ("train", "val" or None = all), sorted by name.

    max_contact: None keeps the build's curation (``manifest.csv`` only); a number (px) also
    takes the samples the curation filter left out (``manifest_dropped.csv``) whose
    ``ambiguous_contact`` is at most that — a looser curation without rebuilding (line-art
    sets such as Open Peeps and Streamline are mostly left out at the default 16 px).
    """
    if split is not None and split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if not (root / "rgb").is_dir() or not (root / "label").is_dir():
        raise DatasetError(f"{root}: not a dataset folder (needs rgb/ and label/)")
    manifest = root / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {"name", "split"} <= set(reader.fieldnames):
                raise DatasetError(f"{manifest}: needs the columns 'name' and 'split'")
            records = [
                Record(r["name"], r["split"], r.get("source") or "") for r in reader if r["name"]
            ]
        dropped = root / "manifest_dropped.csv"
        if max_contact is not None and dropped.is_file():
            with dropped.open(newline="", encoding="utf-8") as f:
                records += [
                    Record(r["name"], r["split"], r.get("source") or "")
                    for r in csv.DictReader(f)
                    if r.get("name") and int(r.get("ambiguous_contact") or 0) <= max_contact
                ]
    elif split is None:
        records = [Record(p.stem, "") for p in (root / "rgb").glob("*.png")]
    else:
        raise DatasetError(f"{manifest}: missing (needed to select the {split!r} split)")
    if split is not None:
        records = [r for r in records if r.split == split]
    return sorted(records, key=lambda r: r.name)


def sample_amodal(root: Path, name: str) -> AmodalMasks | None:
    """The amodal masks of sample ``name`` of dataset ``root`` (ranks 1..K of its label), or
    None when it has none (PSD samples, datasets built before amodal masks were kept)."""
    path = Path(root) / AMODAL_FOLDER / f"{name}.npz"
    if not path.is_file():
        return None
    try:
        return load_amodal(path)
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def load_pair(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(image uint8 (H, W, 3), label int64 (H, W)) of sample ``name``; same size enforced."""
    rgb_path, label_path = root / "rgb" / f"{name}.png", root / "label" / f"{name}.png"
    try:
        with Image.open(rgb_path) as im:
            image = np.array(im.convert("RGB"))
        with Image.open(label_path) as im:
            label = np.array(im).astype(np.int64)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{exc.filename or rgb_path}: cannot read ({exc})") from exc
    if label.ndim != 2:
        raise DatasetError(f"{label_path}: label must be a single-channel 16-bit PNG")
    if label.shape != image.shape[:2]:
        raise DatasetError(
            f"{label_path}: size {label.shape[::-1]} differs from its image {image.shape[1::-1]}"
        )
    return image, label


def resize_pad(
    image: np.ndarray, label: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit into size × size exactly like inference (``model.inference``): long side = size,
    aspect kept (bilinear antialiased image, nearest label), centred, the image edge-replicated
    into the padding. Returns image uint8, label int64 (0 on padding), mask bool (False on padding).
    """
    h, w = label.shape
    nh, nw, top, left = fit_geometry(h, w, size)
    if (nh, nw) != (h, w):
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        image = x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
        lab = torch.from_numpy(np.ascontiguousarray(label))[None, None].double()
        label = F.interpolate(lab, size=(nh, nw), mode="nearest-exact")[0, 0].long().numpy()
    pads = ((top, size - nh - top), (left, size - nw - left))
    out_img = np.pad(image, (*pads, (0, 0)), mode="edge")
    out_lab = np.pad(label.astype(np.int64), pads, constant_values=0)
    mask = np.pad(np.ones((nh, nw), dtype=bool), pads, constant_values=False)
    return out_img, out_lab, mask


def to_model_input(
    image: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (3, H, W): (rgb/255 − mean) / std."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (t - m) / s


class LayerIndexDataset(Dataset):
    """Samples of one split as model-ready tensors.

    ``dataset[i]`` or ``dataset[(i, aug_seed)]`` returns a dict: ``image`` float32 (3, S, S)
    normalised with mean/std, ``label`` float32 (1, S, S) dense rank (0 = background), ``mask``
    bool (1, S, S) (False on padding), ``index`` int. With ``augment`` set, the augmentation is
    drawn from ``numpy.random.default_rng(aug_seed)`` (default: the index), so it does not depend on
    which worker loads the sample. ``limit`` keeps that many samples: the first ones by name, or
    with ``spread`` ones evenly spaced over the sorted split (so a subset of a multi-source split,
    whose names start with the source, covers every source).
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None,
        working_size: int,
        mean: tuple[float, float, float] = (0.5, 0.5, 0.5),
        std: tuple[float, float, float] = (0.5, 0.5, 0.5),
        augment: AugmentConfig | None = None,
        limit: int | None = None,
        spread: bool = False,
    ) -> None:
        self.root = Path(root)
        self.records = read_records(self.root, split)
        if limit is not None and spread and 0 < limit < len(self.records):
            picks = np.linspace(0, len(self.records) - 1, limit).round().astype(int)
            self.records = [self.records[i] for i in picks]
        elif limit is not None:
            self.records = self.records[:limit]
        if not self.records:
            raise DatasetError(f"{self.root}: no samples in split {split or 'all'!r}")
        self.working_size = working_size
        self.mean, self.std = mean, std
        self.augment = augment

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, torch.Tensor | int]:
        index, aug_seed = key if isinstance(key, tuple) else (key, key)
        image, label = load_pair(self.root, self.records[index].name)
        if self.augment is not None:
            rng = np.random.default_rng(aug_seed)
            image, label = geometric_augment(image, label, self.augment, rng)
            image, label, mask = resize_pad(image, label, self.working_size)
            image = photometric_augment(image, label, self.augment, rng)
            label = densify(label)
        else:
            image, label, mask = resize_pad(image, label, self.working_size)
        return {
            "image": to_model_input(image, self.mean, self.std),
            "label": torch.from_numpy(label.astype(np.float32))[None],
            "mask": torch.from_numpy(mask)[None],
            "index": index,
        }
