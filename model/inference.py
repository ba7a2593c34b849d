"""Whole-image inference with torch: RGB uint8 of any size -> float32 layer-index map at that size.

Caller contract: ``image`` is RGB uint8 (H, W, 3), H, W >= 1. RGBA and grayscale are the
caller's job (``decomposer.image_io`` composites alpha / expands gray); anything else raises
ValueError.

Geometry (aspect ratio preserved): the image is resized so its long side equals the working size
S (bilinear, antialiased), padded to S×S by replicating its edge pixels (centred, so no
artificial border colour appears as an extra layer), predicted, the padding is cropped off and the
result resized back to (H, W) (bilinear, antialiased when shrinking). Resizing before padding is
equivalent to padding at full resolution then resizing, without the memory cost on huge images.
A 1×1 image is defined: it is predicted as a uniform S×S image and the mean is returned.
``model.onnx_runtime`` does the same with onnxruntime and ``model.geometry`` (numpy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .geometry import check_rgb_uint8, fit_geometry
from .network import LayerIndexNet

__all__ = ["check_rgb_uint8", "fit_geometry", "predict_index_map", "select_device"]


def select_device(name: str | None = None) -> torch.device:
    """``name`` ("cpu", "cuda", "cuda:1", "mps") or the best available: cuda > mps > cpu."""
    if name is not None:
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available")
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name!r} requested but MPS is not available")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _to_square(image: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (3, size, size) in [0, 1], aspect kept, edge-padded."""
    h, w, top, left = fit_geometry(image.shape[0], image.shape[1], size)
    x = torch.from_numpy(np.require(image, requirements=["C", "W"])).to(device)  # no RO warning
    x = x.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
    pads = (left, size - w - left, top, size - h - top)
    if any(pads):
        x = F.pad(x, pads, mode="replicate")
    return x[0]


def _from_square(pred: torch.Tensor, height: int, width: int) -> np.ndarray:
    """float (size, size) -> float32 (height, width) numpy, padding cropped."""
    size = pred.shape[-1]
    h, w, top, left = fit_geometry(height, width, size)
    crop = pred[top : top + h, left : left + w][None, None].float()
    if (h, w) != (height, width):
        crop = F.interpolate(
            crop, size=(height, width), mode="bilinear", align_corners=False, antialias=True
        )
    return crop[0, 0].cpu().numpy().astype(np.float32, copy=False)


def _forward(net: LayerIndexNet, x: torch.Tensor, tta: bool) -> torch.Tensor:
    """(B, 3, S, S) normalised -> float32 (B, S, S); bf16 autocast on CUDA."""
    use_amp = x.device.type == "cuda"
    with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=use_amp):
        y = net(x)
        if tta:
            y = 0.5 * (y + torch.flip(net(torch.flip(x, dims=[3])), dims=[3]))
    return y[:, 0].float()


def predict_index_map(
    net: LayerIndexNet,
    image: np.ndarray | Sequence[np.ndarray],
    *,
    device: str | torch.device | None = None,
    tta: bool = False,
    batch_size: int = 4,
) -> np.ndarray | list[np.ndarray]:
    """Layer-index map(s): float32 (H, W) per RGB uint8 (H, W, 3) input, higher = front.

    A list in gives a list out (predicted ``batch_size`` at a time). ``device`` None picks
    cuda > mps > cpu; the network is moved there and put in eval mode for the call (its
    training flag is restored); input follows the network's dtype (fp32, or bf16 if it was cast).
    ``tta`` averages with the horizontally flipped prediction. Deterministic on CPU.
    """
    single = isinstance(image, np.ndarray)
    images = [image] if single else list(image)
    if not images:
        return []
    images = [check_rgb_uint8(im) for im in images]
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = device if isinstance(device, torch.device) else select_device(device)
    cfg = net.config
    size = cfg.working_size
    mean = torch.tensor(cfg.mean, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(cfg.std, device=dev).view(1, 3, 1, 1)
    was_training = net.training
    net.to(dev).eval()
    dtype = next(net.parameters()).dtype  # e.g. a bf16-cast network gets bf16 input
    outputs: list[np.ndarray] = []
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                chunk = images[start : start + batch_size]
                x = torch.stack([_to_square(im, size, dev) for im in chunk])
                x = ((x - mean) / std).to(dtype)
                preds = _forward(net, x, tta)
                for im, pred in zip(chunk, preds, strict=True):
                    outputs.append(_from_square(pred, im.shape[0], im.shape[1]))
    finally:
        net.train(was_training)
    return outputs[0] if single else outputs
