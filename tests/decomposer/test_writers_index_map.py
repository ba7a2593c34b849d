"""Index-map writer (16-bit PNG, float32 NPY) and the atomic-write helper."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decomposer.atomic import atomic_dir, atomic_path, is_temp_name, write_text_atomic
from decomposer.writers import write_index_map


def _index_map() -> np.ndarray:
    yy, xx = np.mgrid[0:30, 0:40]
    return (np.sin(xx / 7.0) + yy / 10.0 - 3.0).astype(np.float32)


def test_png_is_16_bit_gray_min_max_scaled(tmp_path: Path) -> None:
    index_map = _index_map()
    path = write_index_map(index_map, tmp_path / "map.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode in {"I;16", "I"} and image.size == (40, 30)
        values = np.asarray(image).astype(np.int64)
    assert values.flat[np.argmin(index_map)] == 0
    assert values.flat[np.argmax(index_map)] == 65535
    # Order is kept: higher index = brighter.
    order = np.argsort(index_map, axis=None, kind="stable")
    assert np.all(np.diff(values.flat[order]) >= 0)
    expected = np.round((index_map - index_map.min()) / np.ptp(index_map) * 65535)
    assert np.abs(values - expected).max() <= 1


def test_constant_map_is_all_zero_and_npy_keeps_values(tmp_path: Path) -> None:
    path = write_index_map(np.full((5, 6), 2.5, np.float32), tmp_path / "flat.png")
    with Image.open(path) as image:
        assert np.asarray(image).max() == 0
    index_map = _index_map().astype(np.float64)
    npy = write_index_map(index_map, tmp_path / "map.npy")
    loaded = np.load(npy)
    assert loaded.dtype == np.float32 and loaded.shape == (30, 40)
    np.testing.assert_array_equal(loaded, index_map.astype(np.float32))


def test_bad_suffix_or_shape_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"map\.jpg"):
        write_index_map(_index_map(), tmp_path / "map.jpg")
    with pytest.raises(ValueError, match=r"cube\.png"):
        write_index_map(np.zeros((2, 3, 4)), tmp_path / "cube.png")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_removes_temp_and_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = write_text_atomic(tmp_path / "report.json", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and is_temp_name(tmp.name)
        tmp.write_text("half-writ")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
    with atomic_path(tmp_path / "sub" / "new.txt") as tmp:
        tmp.write_text("done")
    assert (tmp_path / "sub" / "new.txt").read_text() == "done"
    # Not mkstemp's private 0600: outputs get the permissions of any file the user creates.
    umask = os.umask(0o022)
    os.umask(umask)
    assert (tmp_path / "sub" / "new.txt").stat().st_mode & 0o777 == 0o666 & ~umask


def test_atomic_dir_rolls_back_on_error(tmp_path: Path) -> None:
    folder = tmp_path / "stack"
    with atomic_dir(folder) as tmp:
        (tmp / "a.png").write_bytes(b"1")
    with pytest.raises(RuntimeError), atomic_dir(folder) as tmp:
        (tmp / "b.png").write_bytes(b"2")
        raise RuntimeError("interrupted")
    assert [p.name for p in folder.iterdir()] == ["a.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["stack"]
