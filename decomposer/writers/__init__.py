"""Writers: a Decomposition to PSD, OpenRaster or a PNG stack; index maps to PNG/NPY.

Every writer is atomic (temp file or folder next to the target, then `os.replace`).
"""

from __future__ import annotations

from pathlib import Path

from decomposer.errors import InvalidOptionError
from decomposer.types import Decomposition
from decomposer.writers.index_map import write_index_map
from decomposer.writers.ora import write_ora
from decomposer.writers.png_stack import write_png_stack
from decomposer.writers.psd import write_psd

FORMATS = ("psd", "ora", "png")
_SUFFIX_FORMATS = {".psd": "psd", ".ora": "ora", "": "png"}

__all__ = [
    "FORMATS",
    "default_output_path",
    "format_for_path",
    "write_decomposition",
    "write_index_map",
    "write_ora",
    "write_png_stack",
    "write_psd",
]


def format_for_path(path: str | Path, format: str | None = None) -> str:
    """The output format: `format` if given, else from the suffix (.psd, .ora, none = png folder)."""
    path = Path(path)
    if format is not None:
        if format not in FORMATS:
            raise InvalidOptionError(
                f"{path}: unknown format {format!r} (choose from {', '.join(FORMATS)})"
            )
        return format
    suffix = path.suffix.lower()
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    raise InvalidOptionError(
        f"{path}: cannot tell the format from suffix {suffix!r} "
        "(use .psd, .ora, a folder name for a PNG stack, or pass a format)"
    )


def default_output_path(source: str | Path, format: str = "psd") -> Path:
    """Output next to `source`: art.png -> art.psd / art.ora / art_layers (PNG-stack folder)."""
    source = Path(source)
    if format == "png":
        return source.with_name(f"{source.stem}_layers")
    return source.with_suffix(f".{format}")


def write_decomposition(
    dec: Decomposition, path: str | Path, format: str | None = None, *, extras: bool = True
) -> Path:
    """Write `dec` to `path` in `format` (default: from the suffix); returns the written path."""
    path = Path(path)
    chosen = format_for_path(path, format)
    if chosen == "psd":
        return write_psd(dec, path, extras=extras)
    if chosen == "ora":
        return write_ora(dec, path, extras=extras)
    return write_png_stack(dec, path, extras=extras)
