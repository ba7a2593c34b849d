"""Shared fixtures: small generated datasets in the rgb/ + label/ + manifest.csv layout."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from training.synthetic import SyntheticConfig, synthetic_sample


def write_dataset(root: Path, samples: list[tuple[np.ndarray, np.ndarray]], n_train: int) -> Path:
    """Write (rgb uint8 (H, W, 3), label uint16 (H, W)) pairs; the first n_train are 'train'."""
    (root / "rgb").mkdir(parents=True, exist_ok=True)
    (root / "label").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (rgb, label) in enumerate(samples):
        name = f"s{i:03d}"
        Image.fromarray(rgb).save(root / "rgb" / f"{name}.png")
        Image.fromarray(label.astype(np.uint16)).save(root / "label" / f"{name}.png")
        rows.append(
            {
                "name": name,
                "source": "synthetic",
                "licence": "CC0-1.0",
                "visible_pieces": int(label.max()),
                "split": "train" if i < n_train else "val",
            }
        )
    with (root / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def stacked_rectangles(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-square scene: 2–4 overlapping flat rectangles on white; exact dense-rank label."""
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), 255, dtype=np.uint8)
    paint = np.zeros((h, w), dtype=np.int64)
    for k in range(1, int(rng.integers(2, 5)) + 1):
        y0, x0 = int(rng.integers(0, h * 3 // 4)), int(rng.integers(0, w * 3 // 4))
        y1, x1 = int(rng.integers(y0 + h // 8, h + 1)), int(rng.integers(x0 + w // 8, w + 1))
        image[y0:y1, x0:x1] = rng.integers(0, 230, size=3)
        paint[y0:y1, x0:x1] = k
    label = np.searchsorted(np.unique(paint), paint).astype(np.uint16)
    return image, label


@pytest.fixture
def synthetic_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``synthetic_dataset(n_train, n_val, size=64)`` -> folder of training.synthetic scenes."""

    def make(n_train: int = 8, n_val: int = 4, size: int = 64) -> Path:
        cfg = SyntheticConfig(size=size, max_pieces=8)
        samples = [synthetic_sample(i, cfg) for i in range(n_train + n_val)]
        return write_dataset(tmp_path / f"synthetic{n_train}_{n_val}_{size}", samples, n_train)

    return make


@pytest.fixture
def rectangles_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``rectangles_dataset(n_train, n_val, size=(H, W))`` -> non-square scenes."""

    def make(n_train: int = 4, n_val: int = 4, size: tuple[int, int] = (40, 72)) -> Path:
        samples = [stacked_rectangles(*size, seed=i) for i in range(n_train + n_val)]
        return write_dataset(tmp_path / f"rect{n_train}_{n_val}", samples, n_train)

    return make


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run torch single-threaded: on the shared 2-core machine this is several times faster."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
