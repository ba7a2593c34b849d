"""resize-dataset: a smaller copy of a dataset folder (area RGB, nearest labels), incremental."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from training.cli import main as train_cli
from training.datasets import LayerIndexDataset, load_pair, read_records
from training.resize_dataset import shrink_pair


def test_shrink_pair_area_rgb_nearest_labels() -> None:
    image = np.zeros((4, 8, 3), np.uint8)
    image[:, 1::2] = 200  # alternate columns: a box filter averages them to 100
    label = np.repeat(np.array([[0, 0, 3, 3, 7, 7, 9, 9]]), 4, axis=0)
    small, lab = shrink_pair(image, label, 4)
    assert small.shape == (2, 4, 3) and lab.shape == (2, 4) and lab.dtype == np.uint16
    assert np.all(small == 100)
    assert lab[0].tolist() == [0, 3, 7, 9]  # nearest keeps exact piece ids
    same, _ = shrink_pair(image, label, 16)  # never enlarged
    assert same.shape == image.shape


def test_resize_dataset_copies_incrementally(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    src = rectangles_dataset(3, 2, size=(40, 72))
    dst = tmp_path / "small"
    runner = CliRunner()
    out = runner.invoke(train_cli, ["resize-dataset", str(src), str(dst), "--size", "36"])
    assert out.exit_code == 0, out.output
    assert "5 new samples, 5 in all" in out.output
    assert [r.name for r in read_records(dst, "val")] == [r.name for r in read_records(src, "val")]
    image, label = load_pair(dst, "s000")
    assert image.shape == (20, 36, 3) and label.shape == (20, 36)
    assert set(np.unique(label)) <= set(np.unique(load_pair(src, "s000")[1]))
    assert LayerIndexDataset(dst, "train", 64)[0]["image"].shape == (3, 64, 64)
    # a build that has written one more sample since: only that one is added
    Image.fromarray(np.full((40, 72, 3), 9, np.uint8)).save(src / "rgb" / "s999.png")
    Image.fromarray(np.ones((40, 72), np.uint16)).save(src / "label" / "s999.png")
    with (src / "manifest.csv").open("a", newline="") as f:
        csv.writer(f).writerow(["s999", "synthetic", "CC0-1.0", 1, "train"])
    again = runner.invoke(train_cli, ["resize-dataset", str(src), str(dst), "--size", "36"])
    assert again.exit_code == 0 and "1 new samples, 6 in all" in again.output


def test_resize_dataset_refuses_another_copy(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    src = rectangles_dataset(2, 0)
    dst = tmp_path / "small"
    runner = CliRunner()
    assert (
        runner.invoke(train_cli, ["resize-dataset", str(src), str(dst), "--size", "32"]).exit_code
        == 0
    )
    out = runner.invoke(train_cli, ["resize-dataset", str(src), str(dst), "--size", "16"])
    assert out.exit_code != 0 and "at 32 px; choose another folder" in out.output
    assert out.output.strip().count("\n") == 0
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    out = runner.invoke(train_cli, ["resize-dataset", str(src), str(tmp_path / "other")])
    assert out.exit_code != 0 and "is not a resized dataset copy" in out.output
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
