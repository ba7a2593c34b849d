"""Dataset reading, geometry (same as inference) and augmentations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from model.inference import fit_geometry
from training.augment import densify, geometric_augment, photometric_augment
from training.config import NO_AUGMENT, AugmentConfig
from training.datasets import DatasetError, LayerIndexDataset, read_records, resize_pad


def test_split_filter_and_errors(rectangles_dataset: Callable[..., Path], tmp_path: Path) -> None:
    data = rectangles_dataset(3, 2)
    assert [r.name for r in read_records(data, "train")] == ["s000", "s001", "s002"]
    assert [r.name for r in read_records(data, "val")] == ["s003", "s004"]
    assert len(read_records(data, None)) == 5
    with pytest.raises(DatasetError, match="unknown split"):
        read_records(data, "test")
    (data / "manifest.csv").unlink()
    assert len(read_records(data, None)) == 5
    with pytest.raises(DatasetError, match="manifest.csv: missing"):
        read_records(data, "train")
    with pytest.raises(DatasetError, match="not a dataset folder"):
        read_records(tmp_path, None)


def test_non_square_sample_is_fitted_like_inference(
    rectangles_dataset: Callable[..., Path],
) -> None:
    data = rectangles_dataset(1, 0, size=(40, 72))
    item = LayerIndexDataset(data, "train", 256)[0]
    assert item["image"].shape == (3, 256, 256) and item["image"].dtype == torch.float32
    assert item["label"].shape == (1, 256, 256) and item["mask"].dtype == torch.bool
    h, w, top, left = fit_geometry(40, 72, 256)
    mask = item["mask"][0]
    assert mask[top : top + h, left : left + w].all() and int(mask.sum()) == h * w
    assert float(item["label"][0][~mask].abs().sum()) == 0.0
    assert float(item["image"].min()) >= -1.0 and float(item["image"].max()) <= 1.0
    # edge-replicated padding: the rows above the content repeat its first row
    assert torch.equal(item["image"][:, 0, :], item["image"][:, top, :])


def test_resize_keeps_label_values_nearest() -> None:
    label = np.zeros((10, 30), dtype=np.int64)
    label[2:8, 5:25] = 3
    image = np.full((10, 30, 3), 200, np.uint8)
    _, out, mask = resize_pad(image, label, 64)
    assert set(np.unique(out[mask]).tolist()) == {0, 3}


def test_densify_keeps_background() -> None:
    assert densify(np.array([[0, 5, 9, 5]])).tolist() == [[0, 1, 2, 1]]
    assert densify(np.array([[3, 7]])).tolist() == [[1, 2]]


def test_geometric_augment_moves_image_and_label_together() -> None:
    rng0 = np.random.default_rng(0)
    label = rng0.integers(0, 6, size=(48, 80))
    image = np.stack([label * 40, 255 - label * 40, np.full_like(label, 7)], -1).astype(np.uint8)
    cfg = dataclasses.replace(NO_AUGMENT, scale_crop_p=1.0, hflip_p=1.0, min_crop=0.5)
    shapes = set()
    for seed in range(5):
        img, lab = geometric_augment(image, label, cfg, np.random.default_rng(seed))
        assert img.shape[:2] == lab.shape
        shapes.add(lab.shape)
        # within the result, a colour still identifies exactly one label and vice versa
        pairs = {(int(c), int(v)) for c, v in zip(img[..., 0].ravel(), lab.ravel(), strict=True)}
        assert len(pairs) == len({c for c, _ in pairs}) == len({v for _, v in pairs})
        # the relative order of labels is preserved (colour encodes the original rank)
        ordered = sorted(pairs)
        assert [v for _, v in ordered] == sorted(v for _, v in ordered)
    assert len(shapes) > 1 and label.shape not in shapes  # crops of varying size happened


def test_photometric_invert_and_background() -> None:
    label = np.zeros((20, 20), dtype=np.int64)
    label[5:15, 5:15] = 1
    image = np.full((20, 20, 3), 255, np.uint8)
    image[5:15, 5:15] = (10, 120, 200)
    inv = photometric_augment(
        image, label, dataclasses.replace(NO_AUGMENT, invert_p=1.0), np.random.default_rng(0)
    )
    assert np.array_equal(inv, 255 - image)
    bg = photometric_augment(
        image, label, dataclasses.replace(NO_AUGMENT, background_p=1.0), np.random.default_rng(1)
    )
    assert np.array_equal(bg[label > 0], image[label > 0])
    assert not np.array_equal(bg[label == 0], image[label == 0])


def test_augmented_item_is_reproducible_from_its_seed(
    synthetic_dataset: Callable[..., Path],
) -> None:
    data = synthetic_dataset(2, 0)
    ds = LayerIndexDataset(data, "train", 256, augment=AugmentConfig(jpeg_p=1.0, blur_p=1.0))
    a, b, c = ds[(1, 123)], ds[(1, 123)], ds[(1, 124)]
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["label"], b["label"])
    assert not torch.equal(a["image"], c["image"])


def test_limit_first_or_spread_over_the_split(rectangles_dataset: Callable[..., Path]) -> None:
    root = rectangles_dataset(0, 9)
    names = [r.name for r in LayerIndexDataset(root, "val", 32).records]
    first = LayerIndexDataset(root, "val", 32, limit=3).records
    spread = LayerIndexDataset(root, "val", 32, limit=3, spread=True).records
    assert [r.name for r in first] == names[:3]
    assert [r.name for r in spread] == [names[0], names[4], names[8]]
    assert len(LayerIndexDataset(root, "val", 32, limit=50, spread=True)) == 9
