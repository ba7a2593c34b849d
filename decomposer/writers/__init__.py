"""Writers and the format registry: a Decomposition to PSD, OpenRaster, a PNG stack, SVG, ...

Every module in this package that defines `FORMAT` (a `decomposer.writers.base.Format`) is an
output format; they are collected here, once, in `Format.order`. Everything that offers or
serves formats (CLI, batch runner, `--verify`, bridge, client, web page) reads this registry.
Index maps (`write_index_map`) are a side output, not a format.

Every writer is atomic (temp file or folder next to the target, then `os.replace`).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from decomposer.errors import InvalidOptionError
from decomposer.types import Decomposition
from decomposer.writers.base import Format, ReadBack, VerifyResult
from decomposer.writers.index_map import write_index_map

_NOT_FORMATS = {"base", "index_map"}


def _discover() -> dict[str, Format]:
    found: list[Format] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_FORMATS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        declared = getattr(module, "FORMAT", None)
        if isinstance(declared, Format):
            found.append(declared)
    found.sort(key=lambda f: (f.order, f.name))
    registry: dict[str, Format] = {}
    for fmt in found:
        if fmt.name in registry:
            raise RuntimeError(f"two output formats are named {fmt.name!r}")
        registry[fmt.name] = fmt
    return registry


_REGISTRY = _discover()
FORMATS: tuple[str, ...] = tuple(_REGISTRY)
DEFAULT_FORMAT: str = FORMATS[0]


def formats() -> tuple[Format, ...]:
    """Every output format, in listing order (the first is the default)."""
    return tuple(_REGISTRY.values())


def get_format(name: str) -> Format:
    """The format called `name`; InvalidOptionError listing the known ones otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidOptionError(
            f"unknown format {name!r} (choose from {', '.join(FORMATS)})"
        ) from None


def file_formats() -> tuple[Format, ...]:
    """The formats written as one file (the ones a server can send as a download)."""
    return tuple(f for f in _REGISTRY.values() if not f.folder)


def format_for_path(path: str | Path, format: str | None = None) -> str:
    """The output format's name: `format` if given, else from the suffix (none = folder format)."""
    path = Path(path)
    if format is not None:
        if format not in _REGISTRY:
            raise InvalidOptionError(
                f"{path}: unknown format {format!r} (choose from {', '.join(FORMATS)})"
            )
        return format
    suffix = path.suffix.lower()
    for fmt in _REGISTRY.values():
        if (suffix in fmt.suffixes) if suffix else fmt.folder:
            return fmt.name
    known = ", ".join(s for f in _REGISTRY.values() for s in f.suffixes)
    raise InvalidOptionError(
        f"{path}: cannot tell the format from suffix {suffix!r} "
        f"(use {known}, a folder name for a PNG stack, or pass a format)"
    )


def default_output_path(source: str | Path, format: str = DEFAULT_FORMAT) -> Path:
    """Output next to `source`: art.png -> art.psd / art.ora / art.svg / art_layers (folder)."""
    return get_format(format).default_path(source)


def write_decomposition(
    dec: Decomposition, path: str | Path, format: str | None = None, *, extras: bool = True
) -> Path:
    """Write `dec` to `path` in `format` (default: from the suffix); returns the written path.

    extras: add the hidden extra content (original image, index map) the format supports.
    """
    path = Path(path)
    return get_format(format_for_path(path, format)).write(dec, path, extras=extras)


save = write_decomposition


__all__ = [
    "DEFAULT_FORMAT",
    "FORMATS",
    "Format",
    "ReadBack",
    "VerifyResult",
    "default_output_path",
    "file_formats",
    "format_for_path",
    "formats",
    "get_format",
    "save",
    "write_decomposition",
    "write_index_map",
]
