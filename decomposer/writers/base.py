"""The `Format` record every output format declares next to its writer, and read-back results.

A writer module in `decomposer/writers/` defines `FORMAT = Format(...)`; the registry
(`decomposer.writers`) collects them, and the CLI (`--format`, suffixes, `--verify`), the batch
runner, the bridge (result types, links), its client and the web page all read that registry.
Adding a format = one module here plus its test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from decomposer.composite import composite_layers
from decomposer.types import Layer


@dataclass(frozen=True)
class ReadBack:
    """Layers read back from a written file, bottom -> top.

    layers: every layer in the file, hidden ones included.
    visible: one flag per layer.
    canvas_size: (width, height) in pixels.
    """

    layers: list[Layer]
    visible: list[bool]
    canvas_size: tuple[int, int]

    def visible_layers(self) -> list[Layer]:
        """The layers that take part in the composite."""
        return [layer for layer, shown in zip(self.layers, self.visible, strict=True) if shown]


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a format's read-back check.

    ok: the written file reproduces the input under the format's rule (raster formats: bit-exact
    recomposition; vector formats: rendered similarity, see the format).
    layers: layers found in the file; mismatched_pixels: pixels that differ; max_difference:
    largest channel difference (0-255); similarity: SSIM in [-1, 1] where the check measures it.
    detail: the format's own one-line account when it is not about pixels (e.g. a parse error).
    """

    path: Path
    ok: bool
    layers: int
    mismatched_pixels: int = 0
    max_difference: int = 0
    similarity: float | None = None
    detail: str | None = None

    @property
    def message(self) -> str:
        """One line for users."""
        if self.detail is not None:
            return f"{self.path}: {self.detail}"
        if self.ok:
            return f"{self.path}: verified, {self.layers} layers recompose the input exactly"
        return (
            f"{self.path}: verification failed, {self.mismatched_pixels} pixels differ "
            f"(max difference {self.max_difference}/255)"
        )


Writer = Callable[..., Path]  # write(dec, path, *, extras=True) -> path
Reader = Callable[[Path], ReadBack]
Check = Callable[[Path, np.ndarray], VerifyResult]  # check(path, source_rgba (H, W, 4))


@dataclass(frozen=True)
class Format:
    """One output format.

    name: the `--format` value and the bridge's result key ("psd").
    title: short human name for help texts and buttons ("PSD").
    description: what it is and which programs open it (the CLI help).
    suffixes: file suffixes, lower case, the first is the default; empty for a folder format.
    media_type: the HTTP Content-Type the bridge serves it with.
    write: write(dec, path, *, extras=True) -> path, atomic.
    check: check(path, source_rgba) -> VerifyResult, the read-back check behind `--verify`.
    read: read(path) -> ReadBack for formats that hold raster layers (None otherwise).
    folder: the output is a folder (e.g. a PNG stack), not one file.
    order: listing order (lower first); the format with the lowest order is the default.
    """

    name: str
    title: str
    description: str
    suffixes: tuple[str, ...]
    media_type: str
    write: Writer
    check: Check
    read: Reader | None = None
    folder: bool = False
    order: int = 100

    def __post_init__(self) -> None:
        if self.folder == bool(self.suffixes):
            raise ValueError(f"format {self.name}: a folder format has no suffixes, a file one has")
        if any(s != s.lower() or not s.startswith(".") for s in self.suffixes):
            raise ValueError(f"format {self.name}: suffixes must be lower case and start with '.'")

    @property
    def suffix(self) -> str:
        """The default suffix ("" for a folder format)."""
        return self.suffixes[0] if self.suffixes else ""

    def default_path(self, source: str | Path) -> Path:
        """Output next to `source`: art.png -> art.psd, or art_layers/ for a folder format."""
        source = Path(source)
        if self.folder:
            return source.with_name(f"{source.stem}_layers")
        return source.with_suffix(self.suffix)


def recomposition_matches(composite: np.ndarray, source_rgba: np.ndarray) -> tuple[int, int]:
    """(mismatched pixels, max channel difference) under the exactness rule; (0, 0) = exact.

    Exactness rule (issue 3): the visible layers composited bottom -> top with normal blending
    must equal the input's alpha everywhere and its colour wherever alpha > 0.
    """
    if composite.shape != source_rgba.shape:
        return int(source_rgba.shape[0] * source_rgba.shape[1]), 255
    difference = np.abs(composite.astype(np.int16) - source_rgba.astype(np.int16))
    difference[..., :3] *= (source_rgba[..., 3:4] > 0).astype(np.int16)
    bad = difference.max(axis=2)
    return int(np.count_nonzero(bad)), int(bad.max(initial=0))


def exact_check(read: Reader) -> Check:
    """The read-back check of a raster-layer format: re-read, composite, compare bit-exactly."""

    def check(path: Path, source_rgba: np.ndarray) -> VerifyResult:
        back = read(Path(path))
        shown = back.visible_layers()
        composite = composite_layers(shown, back.canvas_size)
        mismatched, worst = recomposition_matches(np.asarray(composite), np.asarray(source_rgba))
        return VerifyResult(Path(path), mismatched == 0, len(shown), mismatched, worst)

    return check
