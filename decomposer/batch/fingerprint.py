"""File identities for the resume key: an input's content hash and [size, mtime_ns], an
output's stamp, and the weights' fingerprint.

`weights_fingerprint` is kept here alone so that it can become a one-line call to the model
package's own fingerprint once `model/` provides one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from decomposer.writers.png_stack import MANIFEST_NAME


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's content (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_stat(path: str | Path) -> list[int] | None:
    """[size, mtime_ns] of a file, None if it cannot be read."""
    try:
        info = Path(path).stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def output_stamp(output: str | Path) -> list[int] | None:
    """[size, mtime_ns] of an output file (of manifest.json for a PNG stack), None if absent."""
    output = Path(output)
    return file_stat(output / MANIFEST_NAME if output.is_dir() else output)


def weights_fingerprint(weights: str | None) -> str:
    """Identifies the weights a --model value stands for: a preset name as is; for a weights
    folder or file (None = the shipped default) the files' names, sizes and mtimes, so that
    retrained weights invalidate earlier results."""
    import model

    path = model.default_weights_dir() if weights is None else Path(weights)
    if weights in model.list_presets() or not path.exists():
        return str(weights)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    listing = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()
