"""One place that turns a model spec into a network: ``load(spec)`` and ``fingerprint(spec)``.

A spec is one of (checked in this order):

- ``None`` or ``"default"``: the shipped default weights (``model/weights/default/``);
- ``"random:PRESET"`` (``random:tiny``, ``random:small``, ...): an untrained network with fixed
  seed-0 weights, for tests and benchmarks only; loading one warns (RandomWeightsWarning);
- an existing path: a ``save_pretrained`` folder (``model.safetensors`` + ``config.json``, maybe
  ``model.onnx``), either file of that pair, an exported ``.onnx`` file, or Apple's Depth Pro
  checkpoint (``.pt``/``.pth``, the ``depthpro`` network);
- the preset name of the shipped default (``"small"``): the shipped weights.

Any other preset name (``tiny``, ``depthpro``) is an error that says to use ``random:NAME``:
a name never silently means random weights.

Runtimes: ``"torch"`` (a ``LayerIndexNet``; needs the ``[torch]`` extra), ``"onnx"`` (an
``OnnxLayerIndexModel`` on onnxruntime, for folders with ``model.onnx`` and ``.onnx`` files) or
``"auto"``: torch when it is installed, else onnxruntime. Nothing here imports torch unless the
torch runtime is chosen, so the light install (no torch) loads the shipped model.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import (
    TORCH_EXTRA,
    CheckpointError,
    MissingDependencyError,
    RandomWeightsWarning,
    UnknownModelError,
)
from .files import (
    CONFIG_NAME,
    ONNX_NAME,
    WEIGHTS_NAME,
    file_sha256,
    read_config_document,
    saved_model_fingerprint,
)
from .presets import list_presets

DEFAULT_NAME = "default"
RANDOM_PREFIX = "random:"
RANDOM_SEED = 0
RUNTIMES = ("auto", "torch", "onnx")
DEPTH_PRO_SUFFIXES = (".pt", ".pth")


@dataclass(frozen=True)
class ModelSource:
    """What a spec resolves to.

    kind: "saved" (save_pretrained folder or file pair), "onnx" (an exported .onnx file),
    "depthpro" (Apple's checkpoint file) or "random" (untrained ``preset``).
    label: short name for messages and reports ("default", "random:tiny", the path given).
    """

    kind: str
    label: str
    path: Path | None = None
    preset: str | None = None

    @property
    def onnx_path(self) -> Path | None:
        """The ONNX file this source can run on onnxruntime, if any."""
        if self.kind == "onnx":
            return self.path
        if self.kind == "saved" and self.path is not None and self.path.is_dir():
            candidate = self.path / ONNX_NAME
            return candidate if candidate.is_file() else None
        return None


def default_weights_dir() -> Path:
    """Folder of the shipped default model: ``model/weights/default/`` (``model.safetensors``,
    ``config.json`` and ``model.onnx``)."""
    return Path(__file__).resolve().parent / "weights" / "default"


def torch_available() -> bool:
    """Whether PyTorch is installed (checked without importing it)."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a broken or blocked installation counts as missing
        return False


def shipped_preset() -> str | None:
    """The preset name of the shipped default weights (e.g. "small"), None if not installed."""
    try:
        preset = read_config_document(default_weights_dir()).get("preset")
    except CheckpointError:
        return None
    return preset if isinstance(preset, str) else None


def resolve(spec: str | os.PathLike[str] | None = None) -> ModelSource:
    """The ModelSource a spec names (see the module docstring); UnknownModelError if none."""
    if spec is None or (isinstance(spec, str) and spec == DEFAULT_NAME):
        return _default_source()
    text = os.fspath(spec)
    if isinstance(spec, str) and text.startswith(RANDOM_PREFIX):
        preset = text[len(RANDOM_PREFIX) :]
        if preset not in list_presets():
            raise UnknownModelError(
                f"{text}: unknown preset {preset!r}; use random:"
                + " or random:".join(list_presets())
            )
        return ModelSource("random", text, preset=preset)
    path = Path(text).expanduser()
    if path.exists():
        return _path_source(path, text)
    if isinstance(spec, str) and spec == shipped_preset():
        return _default_source()
    if isinstance(spec, str) and spec in list_presets():
        weights = (
            "Apple's depth_pro.pt or a weights folder" if spec == "depthpro" else "a weights folder"
        )
        raise UnknownModelError(
            f"{text}: no shipped weights for preset {text!r} (shipped: {DEFAULT_NAME}, "
            f"{shipped_preset() or 'none'}); pass {weights}, or random:{text} for an untrained "
            "network (tests, benchmarks)"
        )
    raise UnknownModelError(
        f"{text}: no such model file or folder; give a save_pretrained folder, a .onnx or .pt "
        f"file, {DEFAULT_NAME!r}, or random:PRESET for an untrained network"
    )


def _default_source() -> ModelSource:
    folder = default_weights_dir()
    if not (folder / CONFIG_NAME).is_file():
        raise UnknownModelError(
            f"{folder}: the default model is not installed (no {CONFIG_NAME}); reinstall "
            "illustrators-depth, or pass a model folder"
        )
    return ModelSource("saved", DEFAULT_NAME, path=folder)


def _path_source(path: Path, label: str) -> ModelSource:
    if path.is_dir():
        if (path / CONFIG_NAME).is_file():
            return ModelSource("saved", label, path=path)
        if (path / ONNX_NAME).is_file():
            return ModelSource("onnx", label, path=path / ONNX_NAME)
        raise UnknownModelError(
            f"{path}: not a model folder (no {CONFIG_NAME}, {WEIGHTS_NAME} or {ONNX_NAME})"
        )
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return ModelSource("onnx", label, path=path)
    if suffix in (".safetensors", ".json"):
        return ModelSource("saved", label, path=path)
    if suffix in DEPTH_PRO_SUFFIXES:
        return ModelSource("depthpro", label, path=path)
    raise UnknownModelError(
        f"{path}: not a model file (expected a folder, .safetensors, .json, .onnx or .pt)"
    )


def load(spec: str | os.PathLike[str] | None = None, *, runtime: str = "auto") -> Any:
    """The network a spec names, ready for ``model.predict_index_map`` (eval mode, CPU).

    Returns a ``LayerIndexNet`` (torch runtime) or an ``OnnxLayerIndexModel`` (onnx runtime).
    Raises UnknownModelError (nothing to load), CheckpointError (a broken or stale file) or
    MissingDependencyError (e.g. torch needed but not installed); messages are one line.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    source = resolve(spec)
    chosen = _choose_runtime(source, runtime)
    if chosen == "onnx":
        return _load_onnx(source)
    return _load_torch(source)


def _choose_runtime(source: ModelSource, runtime: str) -> str:
    onnx_path = source.onnx_path
    if runtime == "onnx":
        if onnx_path is None:
            raise UnknownModelError(
                f"{source.label}: no {ONNX_NAME} to run on onnxruntime"
                + (
                    f"; export one: decompose-train export-onnx {source.path}"
                    if source.kind == "saved"
                    else " (an untrained or Depth Pro network runs on torch only)"
                )
            )
        return "onnx"
    if source.kind == "onnx":
        if runtime == "torch":
            raise UnknownModelError(f"{source.label}: an ONNX file runs on onnxruntime only")
        return "onnx"
    if runtime == "torch" or torch_available():
        if not torch_available():
            raise MissingDependencyError(
                f"{source.label}: the torch runtime needs PyTorch: {TORCH_EXTRA}"
            )
        return "torch"
    if onnx_path is not None:  # auto without torch
        return "onnx"
    what = {
        "random": f"an untrained {source.preset} network",
        "depthpro": "the Depth Pro network",
        "saved": f"safetensors weights without {ONNX_NAME}",
    }[source.kind]
    raise MissingDependencyError(f"{source.label}: {what} needs PyTorch: {TORCH_EXTRA}")


def _load_onnx(source: ModelSource) -> Any:
    from .onnx_runtime import OnnxLayerIndexModel

    path = source.onnx_path
    assert path is not None
    net = OnnxLayerIndexModel(path)
    if source.kind == "saved":
        _check_onnx_is_current(net, path.parent / WEIGHTS_NAME)
    return net


def _check_onnx_is_current(net: Any, weights: Path) -> None:
    """CheckpointError if the folder's ONNX was exported from other weights than its safetensors."""
    if not weights.is_file() or not net.source_sha256:
        return
    if file_sha256(weights) != net.source_sha256:
        raise CheckpointError(
            f"{net.path}: exported from other weights than {weights.name}; re-export it: "
            f"decompose-train export-onnx {weights.parent}"
        )


def _load_torch(source: ModelSource) -> Any:
    from .checkpoint import from_pretrained, load_depth_pro

    if source.kind == "saved":
        assert source.path is not None
        return from_pretrained(source.path).eval()
    if source.kind == "depthpro":
        assert source.path is not None
        return load_depth_pro(source.path)
    return _random_network(source)


def _random_network(source: ModelSource) -> Any:
    import torch

    from .presets import create_model

    warnings.warn(
        f"{source.label}: untrained network with random weights; its output is meaningless "
        "(for tests and benchmarks only)",
        RandomWeightsWarning,
        stacklevel=4,
    )
    with torch.random.fork_rng(devices=[]):  # fixed weights, the caller's RNG untouched
        torch.manual_seed(RANDOM_SEED)
        return create_model(source.preset or "").eval()


def fingerprint(spec: str | os.PathLike[str] | None = None) -> str:
    """A string that changes whenever the weights a spec names change (for resume keys).

    Saved folders and file pairs (and the default): SHA-256 over the weights file's bytes and
    the architecture config (``model.files.saved_model_fingerprint``), the same whichever
    runtime runs them; ``.onnx`` and ``.pt`` files: SHA-256 of the file; ``random:PRESET``:
    the spec and seed. File hashes are memoised per process; no torch import.
    """
    source = resolve(spec)
    if source.kind == "random":
        return f"{source.label}:seed{RANDOM_SEED}"
    assert source.path is not None
    if source.kind == "saved":
        return saved_model_fingerprint(source.path)
    return file_sha256(source.path)
