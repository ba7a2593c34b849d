"""training.amodal: compact amodal masks, exact round trip, squash unions, the labellers' masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.amodal import AmodalError, load_amodal, rank_masks, save_amodal
from training.datasets import load_pair, read_records, sample_amodal
from training.svg_labels import LabelConfig, label_svg
from training.synthetic import SyntheticConfig, synthetic_sample_amodal

DATA = Path(__file__).resolve().parents[1] / "data" / "svg_labels"


def random_masks(shape: tuple[int, int], count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    masks = []
    for i in range(count):
        mask = np.zeros(shape, dtype=bool)
        if i % 4 != 3:  # every fourth mask stays empty
            y0, x0 = rng.integers(0, shape[0]), rng.integers(0, shape[1])
            y1, x1 = rng.integers(y0 + 1, shape[0] + 1), rng.integers(x0 + 1, shape[1] + 1)
            mask[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0)) < 0.7
        masks.append(mask)
    masks[0][:] = True  # one full-canvas mask
    return masks


def test_round_trip_is_exact_for_odd_shapes_empty_and_full_masks(tmp_path: Path) -> None:
    masks = random_masks((37, 53), 9, seed=3)
    path = tmp_path / "a.npz"
    save_amodal(path, masks)
    loaded = load_amodal(path)
    assert loaded.shape == (37, 53) and loaded.count == 9
    for rank, mask in enumerate(masks, start=1):
        got = loaded.mask(rank)
        assert got.dtype == bool and got.shape == (37, 53)
        assert np.array_equal(got, mask), rank
    assert np.array_equal(loaded.union([2, 3, 5]), masks[1] | masks[2] | masks[4])
    assert not loaded.union([]).any()
    assert not list(tmp_path.glob(".*"))  # no temp file left behind


def test_storage_is_compact(tmp_path: Path) -> None:
    masks = [np.zeros((512, 512), dtype=bool) for _ in range(20)]
    for i, mask in enumerate(masks):
        mask[10 * i : 10 * i + 100, 20 : 20 + 50 + 5 * i] = True
    save_amodal(tmp_path / "a.npz", masks)
    assert (tmp_path / "a.npz").stat().st_size < 8_000  # 20 x 512² bool would be 5 MB


def test_out_of_range_ranks_and_bad_files_raise_with_the_file_name(tmp_path: Path) -> None:
    save_amodal(tmp_path / "a.npz", [np.ones((4, 4), bool)])
    loaded = load_amodal(tmp_path / "a.npz")
    with pytest.raises(AmodalError, match="rank 2 out of range 1..1"):
        loaded.mask(2)
    with pytest.raises(AmodalError, match="rank 0"):
        loaded.union([1, 0])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(AmodalError, match="bad.npz: cannot read"):
        load_amodal(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(AmodalError, match="other.npz: not an amodal file"):
        load_amodal(tmp_path / "other.npz")
    with pytest.raises(AmodalError, match="shape"):
        save_amodal(tmp_path / "c.npz", [np.ones((4, 4), bool), np.ones((4, 5), bool)])
    assert not (tmp_path / "c.npz").exists()


def test_rank_masks_unite_squashed_pieces_and_drop_hidden_ones() -> None:
    a = np.zeros((6, 6), bool)
    a[:, :3] = True
    b = np.zeros((6, 6), bool)
    b[:, 2:5] = True  # same id as a (squashed run)
    c = np.zeros((6, 6), bool)
    c[1:3, 1:3] = True  # id 2, fully hidden by d
    d = np.zeros((6, 6), bool)
    d[0:4, 0:4] = True  # id 3
    raw = np.zeros((6, 6), np.int64)
    for mask, piece_id in ((a, 1), (b, 1), (c, 2), (d, 3)):
        raw[mask] = piece_id
    masks = rank_masks(raw, [a, b, c, d], [1, 1, 2, 3])
    assert len(masks) == 2  # ids 1 and 3 are visible; 2 is not
    assert np.array_equal(masks[0], a | b) and np.array_equal(masks[1], d)


def test_isolation_labels_carry_amodal_masks_that_contain_the_visible_pixels() -> None:
    for path in sorted(DATA.glob("*.svg")):
        result = label_svg(path, LabelConfig(size=48, curate=False))
        assert result.amodal is not None and len(result.amodal) == result.visible_pieces, path
        for rank, mask in enumerate(result.amodal, start=1):
            assert mask.shape == (48, 48)
            assert not ((result.label == rank) & ~mask).any(), (path.name, rank)
    overlap = label_svg(DATA / "overlap.svg", LabelConfig(size=32))
    back = overlap.amodal[0]
    assert back.sum() > (overlap.label == 1).sum()  # the back piece continues under the front


def test_squash_unites_the_masks_of_a_same_colour_run() -> None:
    squashed = label_svg(DATA / "squash.svg", LabelConfig(size=64))  # two red rects, one blue
    separate = label_svg(DATA / "squash.svg", LabelConfig(size=64, squash_same_colour=False))
    assert (squashed.visible_pieces, separate.visible_pieces) == (2, 3)
    red_a, red_b, blue = separate.amodal
    assert np.array_equal(squashed.amodal[0], red_a | red_b)
    assert not np.array_equal(red_a | red_b, red_a)
    assert np.array_equal(squashed.amodal[1], blue)


def test_synthetic_scenes_have_amodal_masks() -> None:
    rgb, label, masks = synthetic_sample_amodal(5, SyntheticConfig(size=64))
    assert len(masks) == int(label.max()) and rgb.shape == (64, 64, 3)
    for rank, mask in enumerate(masks, start=1):
        assert not ((label == rank) & ~mask).any()
    assert any(mask.sum() > (label == rank).sum() for rank, mask in enumerate(masks, start=1))


def test_bundled_validation_samples_carry_consistent_amodal_masks() -> None:
    folder = Path(__file__).resolve().parents[1] / "data" / "validation"
    records = read_records(folder, "val")
    assert len(records) >= 19
    assert {"openclipart", "open-peeps", "fxemoji", "streamline-emojis"} <= {
        r.source for r in records
    }
    for record in records:
        _, label = load_pair(folder, record.name)
        amodal = sample_amodal(folder, record.name)
        assert amodal is not None and amodal.count == int(label.max()) >= 4, record.name
        for rank in range(1, amodal.count + 1):
            assert not ((label == rank) & ~amodal.mask(rank)).any(), (record.name, rank)
