"""Checkpoint I/O (torch): our safetensors + config.json format, and Apple's ``depth_pro.pt``.

The format itself (names, config.json, fingerprints) is in ``model.files``, readable without torch.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import ModelConfig
from .errors import CheckpointError
from .files import CONFIG_NAME, FORMAT_NAME, FORMAT_VERSION, WEIGHTS_NAME, read_config
from .files import resolve_pair as _resolve_pair
from .network import LayerIndexNet
from .presets import create_model, preset_config

logger = logging.getLogger(__name__)
IGNORED_DEPTH_PRO_PREFIX = "fov."
_MAX_LISTED = 12


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_MAX_LISTED])
    more = len(keys) - _MAX_LISTED
    return shown + (f" (+{more} more)" if more > 0 else "")


def check_state_dict_shapes(
    expected: Mapping[str, tuple[int, ...]],
    found: Mapping[str, tuple[int, ...]],
    source: str,
) -> None:
    """Raise CheckpointError unless ``found`` has exactly the keys and shapes of ``expected``.

    The message names every missing, unexpected and wrongly shaped key (first few of each).
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [
        f"{k} {list(found[k])}≠{list(expected[k])}"
        for k in expected
        if k in found and tuple(found[k]) != tuple(expected[k])
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_listing(unexpected)}")
    if wrong:
        problems.append(f"shape mismatch: {_listing(wrong)}")
    if problems:
        raise CheckpointError(f"{source}: " + "; ".join(problems))


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items()}


def _default_file_mode() -> int:
    """0o666 minus the process umask: the mode a plain ``open(path, "w")`` would give."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temp file next to ``path``, then os.replace it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, _default_file_mode())  # mkstemp makes 0600; saved models are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _overrides(cfg: ModelConfig) -> dict[str, Any]:
    """Fields that differ from the named preset (empty for a custom config)."""
    try:
        base = preset_config(cfg.preset).to_dict()
    except ValueError:
        return {}
    return {k: v for k, v in cfg.to_dict().items() if base[k] != v}


def save_pretrained(
    net: LayerIndexNet, directory: str | os.PathLike[str], metadata: dict | None = None
) -> Path:
    """Write ``model.safetensors`` + ``config.json`` into ``directory`` (created); returns it.

    ``config.json`` holds the preset, overrides, full config, input size, normalisation, output
    activation and ``metadata`` (e.g. training run details; must be JSON-serialisable).
    Both files are written atomically.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    cfg = net.config
    doc = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "preset": cfg.preset,
        "overrides": _overrides(cfg),
        "input_size": [cfg.working_size, cfg.working_size],
        "normalization": {"mean": list(cfg.mean), "std": list(cfg.std)},
        "output_activation": cfg.output_activation,
        "config": cfg.to_dict(),
        "metadata": metadata or {},
    }
    try:
        text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metadata for {out} must be JSON-serialisable: {exc}") from exc
    state = {k: v.detach().to("cpu").contiguous() for k, v in net.state_dict().items()}
    _atomic_write(
        out / WEIGHTS_NAME,
        lambda p: save_file(state, str(p), metadata={"format": FORMAT_NAME}),
    )
    _atomic_write(out / CONFIG_NAME, lambda p: p.write_text(text, encoding="utf-8"))
    return out


def from_pretrained(path: str | os.PathLike[str], **overrides: Any) -> LayerIndexNet:
    """Load a model saved by :func:`save_pretrained` (folder, or either file of the pair).

    ``overrides`` replace config fields, e.g. ``working_size=512`` to run a model trained at
    256 px at 512 px (weights do not depend on the working size). Strict: every weight must
    match the architecture, else CheckpointError naming the keys. Returned in eval mode on CPU.
    """
    weights_path, _ = _resolve_pair(Path(path))
    cfg, _ = read_config(path)
    if overrides:
        try:
            cfg = dataclasses.replace(cfg, **overrides)
        except TypeError as exc:
            raise ValueError(f"invalid override for {path}: {exc}") from exc
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: weights file not found")
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{weights_path}: unreadable safetensors file ({exc})") from exc
    net = LayerIndexNet(cfg)
    check_state_dict_shapes(_shapes(net.state_dict()), _shapes(state), str(weights_path))
    net.load_state_dict(state, strict=True)
    return net.eval()


def read_torch_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A flat ``{key: tensor}`` from an untrusted ``.pt`` (``weights_only=True``, mmap if able)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint file not found")
    try:
        try:
            state = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) format cannot be memory-mapped
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors have many types
        raise CheckpointError(
            f"{p}: cannot read as a weights-only torch checkpoint ({exc})"
        ) from exc
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{p}: not a flat state_dict of named tensors")
    return dict(state)


def depth_pro_expected_shapes(**overrides: Any) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the ``depthpro`` preset, built on the meta device (no memory)."""
    with torch.device("meta"):
        net = create_model("depthpro", **overrides)
    return _shapes(net.state_dict())


def split_depth_pro_state_dict(
    state: Mapping[str, torch.Tensor],
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(network weights, ignored ``fov.*`` keys) of an Apple Depth Pro state_dict."""
    kept = {k: v for k, v in state.items() if not k.startswith(IGNORED_DEPTH_PRO_PREFIX)}
    ignored = [k for k in state if k.startswith(IGNORED_DEPTH_PRO_PREFIX)]
    return kept, ignored


def load_depth_pro(
    path: str | os.PathLike[str], *, dtype: torch.dtype = torch.float32, **overrides: Any
) -> LayerIndexNet:
    """Apple's ``depth_pro.pt`` -> the ``depthpro`` network (eval mode, CPU, ``dtype``).

    Strict: every non-``fov.*`` key must be consumed with its exact shape, else CheckpointError
    listing the offending keys. ``fov.*`` keys (the FOV head we do not use) are logged as
    ignored. ``overrides`` may change non-structural fields, e.g. ``output_activation="inverse"``
    to reproduce Depth Pro's inverse-depth semantics.
    """
    state, ignored = split_depth_pro_state_dict(read_torch_state_dict(path))
    with torch.device("meta"):
        net = create_model("depthpro", **overrides)
    check_state_dict_shapes(_shapes(net.state_dict()), _shapes(state), str(path))
    if ignored:
        logger.info("%s: ignored %d fov.* keys (FOV head not used)", path, len(ignored))
    # Every parameter is overwritten below, so allocate (in ``dtype``) without initialising.
    net = net.to(dtype).to_empty(device="cpu")
    net.load_state_dict(state, strict=True)
    return net.eval()
