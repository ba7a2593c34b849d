"""Pyramid window split/merge: counts, order and exact reconstruction."""

from __future__ import annotations

import pytest
import torch

from model.windows import merge_windows, num_windows, split_windows, window_stride


def test_depth_pro_window_counts() -> None:
    assert num_windows(1536, 384, 0.25) == 5 and window_stride(384, 0.25) == 288
    assert num_windows(768, 384, 0.5) == 3 and window_stride(384, 0.5) == 192


def test_split_is_window_major_and_row_major() -> None:
    x = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16)
    w = split_windows(x, 4, 0.25)  # stride 3, 5×5 windows
    assert w.shape == (25 * 2, 1, 4, 4)
    # window (row 1, col 2) of image 1 sits at index (1*5 + 2) * B + 1
    torch.testing.assert_close(w[(1 * 5 + 2) * 2 + 1, 0], x[1, 0, 3:7, 6:10])


@pytest.mark.parametrize(
    ("size", "window", "overlap"),
    [(16, 4, 0.25), (32, 8, 0.25), (8, 4, 0.5), (16, 8, 0.5), (1536, 384, 0.25)],
)
def test_merge_inverts_split_with_one_pixel_tokens(size: int, window: int, overlap: float) -> None:
    """With a 1-px "patch" the merge of split windows must rebuild the image exactly,
    for even and odd overlaps."""
    x = torch.randn(2, 3, size, size)
    n = num_windows(size, window, overlap)
    merged = merge_windows(
        split_windows(x, window, overlap), n, 2, window - window_stride(window, overlap)
    )
    assert torch.equal(merged, x)


def test_split_rejects_untileable_size() -> None:
    with pytest.raises(ValueError, match="not tiled exactly"):
        split_windows(torch.zeros(1, 1, 17, 17), 4, 0.25)
