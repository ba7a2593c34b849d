"""Amodal (full) masks of a sample's ranks, stored compactly beside its label.

For every dense rank r = 1..K of a label image, the *amodal* mask is the full extent of the
piece(s) that got rank r — visible or hidden under later pieces. The isolation labeller renders
every piece alone, so it knows them; `build-dataset` writes them to `DIR/amodal/NAME.npz`.

File format (`np.savez_compressed`, no pickle):
    shape   int64 (2,)      (H, W) of the label image
    boxes   int32 (K, 4)    (y0, x0, y1, x1) of each rank's mask, half-open; (0, 0, 0, 0) if empty
    offsets int64 (K + 1,)  byte offsets of each rank's bits in `bits`
    bits    uint8 (N,)      `np.packbits` of each rank's cropped mask (row-major), concatenated
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from decomposer.atomic import write_bytes_atomic

AMODAL_FOLDER = "amodal"
_KEYS = ("shape", "boxes", "offsets", "bits")


class AmodalError(ValueError):
    """An amodal file or mask list that cannot be used; the message names it."""


@dataclass(frozen=True)
class AmodalMasks:
    """The amodal masks of one sample, decoded lazily rank by rank.

    shape: (H, W) of the label image; count: K, the number of ranks (1..K).
    """

    shape: tuple[int, int]
    count: int
    boxes: np.ndarray  # int32 (K, 4): y0, x0, y1, x1
    offsets: np.ndarray  # int64 (K + 1,)
    bits: np.ndarray  # uint8 (N,)

    def mask(self, rank: int) -> np.ndarray:
        """Full mask of rank `rank` (1..count): bool (H, W)."""
        if not 1 <= rank <= self.count:
            raise AmodalError(f"rank {rank} out of range 1..{self.count}")
        out = np.zeros(self.shape, dtype=bool)
        self._paint(out, rank)
        return out

    def union(self, ranks: Iterable[int]) -> np.ndarray:
        """Union of the full masks of `ranks` (each in 1..count): bool (H, W)."""
        out = np.zeros(self.shape, dtype=bool)
        for rank in ranks:
            if not 1 <= rank <= self.count:
                raise AmodalError(f"rank {rank} out of range 1..{self.count}")
            self._paint(out, int(rank))
        return out

    def _paint(self, out: np.ndarray, rank: int) -> None:
        y0, x0, y1, x1 = (int(v) for v in self.boxes[rank - 1])
        h, w = y1 - y0, x1 - x0
        if h <= 0 or w <= 0:
            return
        chunk = self.bits[self.offsets[rank - 1] : self.offsets[rank]]
        crop = np.unpackbits(chunk, count=h * w).reshape(h, w).astype(bool)
        out[y0:y1, x0:x1] |= crop


def encode_amodal(masks: Sequence[np.ndarray]) -> bytes:
    """The npz bytes of `masks` (masks[r-1] = bool (H, W) of rank r; all the same shape)."""
    if len(masks) == 0:
        raise AmodalError("no masks to store (a sample needs at least one rank)")
    shape = np.asarray(masks[0]).shape
    if len(shape) != 2:
        raise AmodalError(f"masks must be 2-D (H, W), got shape {shape}")
    boxes = np.zeros((len(masks), 4), dtype=np.int32)
    offsets = np.zeros(len(masks) + 1, dtype=np.int64)
    chunks: list[np.ndarray] = []
    for i, mask in enumerate(masks):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != shape:
            raise AmodalError(f"mask of rank {i + 1} has shape {mask.shape}, expected {shape}")
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        packed = np.zeros(0, dtype=np.uint8)
        if rows.size:
            y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            boxes[i] = (y0, x0, y1, x1)
            packed = np.packbits(mask[y0:y1, x0:x1].ravel())
        chunks.append(packed)
        offsets[i + 1] = offsets[i] + packed.size
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        shape=np.asarray(shape, dtype=np.int64),
        boxes=boxes,
        offsets=offsets,
        bits=np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8),
    )
    return buffer.getvalue()


def save_amodal(path: Path, masks: Sequence[np.ndarray]) -> None:
    """Write the amodal masks of ranks 1..K (masks[r-1] bool (H, W)) to `path` atomically."""
    write_bytes_atomic(path, encode_amodal(masks))


def load_amodal(path: Path) -> AmodalMasks:
    """Read an amodal file written by `save_amodal`; raises AmodalError naming the file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if not set(_KEYS) <= set(data.files):
                raise AmodalError(f"{path}: not an amodal file (needs {', '.join(_KEYS)})")
            shape = tuple(int(v) for v in data["shape"])
            boxes = data["boxes"].astype(np.int32)
            offsets = data["offsets"].astype(np.int64)
            bits = data["bits"].astype(np.uint8)
    except (OSError, ValueError) as exc:
        if isinstance(exc, AmodalError):
            raise
        raise AmodalError(f"{path}: cannot read ({exc})") from None
    count = len(boxes)
    if (
        len(shape) != 2
        or boxes.shape != (count, 4)
        or offsets.shape != (count + 1,)
        or (count and int(offsets[-1]) != bits.size)
    ):
        raise AmodalError(f"{path}: inconsistent amodal file")
    return AmodalMasks((shape[0], shape[1]), count, boxes, offsets, bits)


def rank_masks(
    raw: np.ndarray, piece_masks: Sequence[np.ndarray], piece_ids: Sequence[int]
) -> list[np.ndarray]:
    """Amodal masks per dense rank from per-piece full masks.

    raw: int (H, W) pre-rank id of the topmost piece per pixel (0 = background), whose dense
    rank is the label; piece_masks[i]: bool (H, W) full mask of piece i; piece_ids[i]: the id
    piece i was painted with (pieces sharing an id were squashed into one). Rank r unites every
    piece whose id ranks r; pieces whose id is never visible are dropped. Returns K masks
    (masks[r-1] for rank r), K = the number of distinct non-zero ids in `raw`.
    """
    if len(piece_masks) != len(piece_ids):
        raise AmodalError(f"{len(piece_masks)} piece masks but {len(piece_ids)} piece ids")
    visible = np.unique(raw)
    visible = visible[visible != 0]
    rank_of = {int(v): r for r, v in enumerate(visible, start=1)}
    masks = [np.zeros(raw.shape, dtype=bool) for _ in range(len(visible))]
    for mask, piece_id in zip(piece_masks, piece_ids, strict=True):
        rank = rank_of.get(int(piece_id))
        if rank is not None:
            masks[rank - 1] |= mask
    return masks
