"""Re-read a written decomposition and check it against the input, by its format's own rule.

Raster-layer formats (PSD, ORA, PNG stack) must recompose the input bit-exactly (issue 3: the
visible layers composited bottom -> top with normal blending equal the input's alpha everywhere
and its colour wherever alpha > 0); other formats state their rule on their `Format.check`
(e.g. SVG: the rendered drawing's SSIM against the input). Readers and checks live next to
their writers in `decomposer/writers/`; this module dispatches to them through the registry.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from decomposer.errors import InvalidOptionError
from decomposer.writers import format_for_path, get_format
from decomposer.writers.base import ReadBack, VerifyResult, recomposition_matches


def read_layers(path: str | Path, format: str | None = None) -> ReadBack:
    """Raster layers read back from a written file; format from the suffix unless given."""
    path = Path(path)
    fmt = get_format(format_for_path(path, format))
    if fmt.read is None:
        raise InvalidOptionError(f"{path}: {fmt.title} files hold no raster layers to read back")
    return fmt.read(path)


def verify_output(
    path: str | Path, source_rgba: np.ndarray, format: str | None = None
) -> VerifyResult:
    """Re-read `path` and check it reproduces `source_rgba` (uint8 (H, W, 4)) by its format's
    rule; format from the suffix unless given."""
    path = Path(path)
    return get_format(format_for_path(path, format)).check(path, np.asarray(source_rgba))


__all__ = ["ReadBack", "VerifyResult", "read_layers", "recomposition_matches", "verify_output"]
