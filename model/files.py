"""The on-disk model format, readable without torch: file names, config.json, fingerprints.

A saved model is a folder (or a pair of files) with ``model.safetensors`` (weights) and
``config.json`` (architecture and provenance), written by ``model.save_pretrained``; an exported
folder may also hold ``model.onnx`` (the same network for onnxruntime, see ``model.onnx_export``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from .config import ModelConfig
from .errors import CheckpointError

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
ONNX_NAME = "model.onnx"
FORMAT_NAME = "illustrators-depth/layer-index-net"
FORMAT_VERSION = 1


def resolve_pair(path: Path) -> tuple[Path, Path]:
    """Folder, or one file of the pair -> (weights, config) paths (they may not exist)."""
    if path.is_dir():
        return path / WEIGHTS_NAME, path / CONFIG_NAME
    if path.suffix == ".safetensors":
        cfg = path.with_suffix(".json")
        return path, cfg if cfg.exists() else path.parent / CONFIG_NAME
    if path.suffix == ".json":
        weights = path.with_suffix(".safetensors")
        return (weights if weights.exists() else path.parent / WEIGHTS_NAME), path
    raise CheckpointError(f"{path}: not a model folder, .safetensors or .json file")


def read_config_document(path: str | os.PathLike[str]) -> dict:
    """The parsed ``config.json`` of a saved model (folder or either file of the pair)."""
    _, cfg_path = resolve_pair(Path(path))
    if not cfg_path.is_file():
        raise CheckpointError(f"{cfg_path}: config file not found")
    try:
        doc = json.loads(cfg_path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CheckpointError(f"{cfg_path}: unreadable model config ({exc})") from exc
    return doc


def config_from_document(doc: dict, source: str) -> tuple[ModelConfig, dict]:
    """(ModelConfig, metadata) from a parsed config document; CheckpointError naming ``source``."""
    try:
        if doc.get("format") != FORMAT_NAME:
            raise ValueError(f"format is {doc.get('format')!r}, expected {FORMAT_NAME!r}")
        if int(doc.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError(f"format_version {doc['format_version']} is newer than supported")
        cfg = ModelConfig.from_dict(doc["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: invalid model config ({exc})") from exc
    return cfg, dict(doc.get("metadata") or {})


def read_config(path: str | os.PathLike[str]) -> tuple[ModelConfig, dict]:
    """(ModelConfig, metadata) from a saved model's ``config.json`` (or its folder)."""
    _, cfg_path = resolve_pair(Path(path))
    return config_from_document(read_config_document(path), str(cfg_path))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, memoised on (path, size, mtime) within the process."""
    p = Path(path).resolve()
    stat = p.stat()
    return _cached_sha256(str(p), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _cached_sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def saved_model_fingerprint(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 identifying a saved model's weights: the weights file's bytes and the
    architecture config (not the free-form metadata, so provenance edits keep the fingerprint)."""
    weights, cfg_path = resolve_pair(Path(path))
    if not weights.is_file():
        raise CheckpointError(f"{weights}: weights file not found")
    cfg, _ = config_from_document(read_config_document(path), str(cfg_path))
    canonical = json.dumps(cfg.to_dict(), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256()
    digest.update(b"layer-index-net\0" + file_sha256(weights).encode("ascii") + b"\0")
    digest.update(canonical.encode("utf-8"))
    return digest.hexdigest()
