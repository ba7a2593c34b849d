"""File identities for the resume key: an input's content hash and [size, mtime_ns], an
output's stamp, and the weights' fingerprint.

`weights_fingerprint` asks the model package (`model.fingerprint`, no torch import).
"""

from __future__ import annotations

import hashlib
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
    """Identifies the weights a --model value stands for (`model.fingerprint`: SHA-256 of the
    weights and architecture, "random:PRESET:seed0" for an untrained network), so retrained
    weights invalidate earlier results. A spec that names nothing gives itself back: loading it
    reports the error."""
    import model

    try:
        return model.fingerprint(weights)
    except model.ModelError:
        return str(weights)
