"""Run whichever network ``model.load`` returned: torch ``LayerIndexNet`` or ONNX model.

``predict_index_map(net, image, ...)`` dispatches to ``model.inference`` (torch, imported only
for a torch network) or to ``OnnxLayerIndexModel.predict_index_map``; both return float32
(H, W) maps at the input's resolution, higher = front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import TORCH_EXTRA, MissingDependencyError
from .onnx_runtime import OnnxLayerIndexModel


def runtime_of(net: Any) -> str:
    """Which runtime runs ``net``: "onnx" or "torch"."""
    return "onnx" if isinstance(net, OnnxLayerIndexModel) else "torch"


def device_of(net: Any) -> str:
    """The device the network's weights are on ("cpu", "cuda:0", ...)."""
    if isinstance(net, OnnxLayerIndexModel):
        return net.device
    return str(next(net.parameters()).device)


def predict_index_map(
    net: Any,
    image: np.ndarray | Sequence[np.ndarray],
    *,
    device: str | None = None,
    tta: bool = False,
    batch_size: int = 4,
) -> np.ndarray | list[np.ndarray]:
    """Layer-index map(s): float32 (H, W) per RGB uint8 (H, W, 3) input, higher = front.

    ``net``: what ``model.load`` returned. ``device``: for torch, as
    ``model.inference.predict_index_map`` (None = best available); the ONNX runtime runs on the
    CPU only, so any other device there is a MissingDependencyError naming the torch extra.
    """
    if isinstance(net, OnnxLayerIndexModel):
        if device not in (None, "cpu"):
            raise MissingDependencyError(
                f"device {device!r} needs the torch runtime ({TORCH_EXTRA}); the ONNX runtime "
                "runs on the CPU"
            )
        return net.predict_index_map(image, tta=tta, batch_size=batch_size)
    from .inference import predict_index_map as torch_predict

    return torch_predict(net, image, device=device, tta=tta, batch_size=batch_size)
