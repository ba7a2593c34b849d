"""Image geometry shared by both runtimes, in numpy (no torch): input checks, the fit of an image
into the square working size, and an antialiased bilinear resize equal to torch's.

``resize_bilinear_aa`` computes what ``torch.nn.functional.interpolate(x, size, mode="bilinear",
align_corners=False, antialias=True)`` computes (the same separable triangle filter, widened by
the scale when shrinking, weights normalised per output pixel), so the onnxruntime path
(``model.onnx_runtime``) sees the same network input as the torch path (``model.inference``) up
to float32 rounding (~1e-7).
"""

from __future__ import annotations

import numpy as np

_ROW_BLOCK = 512  # output rows per block when resizing along the rows (bounds temporaries)


def check_rgb_uint8(image: object) -> np.ndarray:
    """Return ``image`` if it is an RGB uint8 (H, W, 3) array with H, W >= 1, else ValueError."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy RGB uint8 (H, W, 3) array, got {type(image)}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"image must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}; composite "
            "RGBA over a background and convert grayscale to RGB before predicting"
        )
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image is empty ({image.shape[0]}×{image.shape[1]} px)")
    return image


def fit_geometry(height: int, width: int, size: int) -> tuple[int, int, int, int]:
    """(h, w, top, left): resized size with long side ``size`` and its offset in the square."""
    scale = size / max(height, width)
    h = min(size, max(1, round(height * scale)))
    w = min(size, max(1, round(width * scale)))
    return h, w, (size - h) // 2, (size - w) // 2


def aa_weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Taps of the antialiased bilinear filter along one axis.

    Returns (first, weights): ``first`` int64 (out,) is the first input index each output pixel
    reads, ``weights`` float32 (out, K) the weights of inputs ``first + k`` (zero past the
    image's end; each row sums to 1). Same formula as torch's ``_upsample_bilinear2d_aa``.
    """
    f32 = np.float32  # torch computes the taps in float32 for float images; so do we
    scale = f32(in_size) / f32(out_size)
    support = scale if scale >= 1.0 else f32(1.0)
    invscale = f32(1.0) / scale if scale >= 1.0 else f32(1.0)
    centre = scale * (np.arange(out_size, dtype=f32) + f32(0.5))
    first = np.maximum(np.trunc(centre - support + f32(0.5)).astype(np.int64), 0)
    last = np.minimum(np.trunc(centre + support + f32(0.5)).astype(np.int64), in_size)
    taps = last - first
    k = np.arange(int(taps.max()))
    offset = ((k[None, :] + first[:, None]).astype(f32) - centre[:, None] + f32(0.5)) * invscale
    weights = np.clip(f32(1.0) - np.abs(offset), f32(0.0), None)
    weights[k[None, :] >= taps[:, None]] = 0.0
    total = weights.sum(axis=1, keepdims=True, dtype=f32)
    weights = np.divide(weights, total, out=np.zeros_like(weights), where=total != 0)
    return first, weights


def _resize_axis(x: np.ndarray, axis: int, out_size: int) -> np.ndarray:
    """Resize ``x`` (uint8 or float32) along ``axis`` (0 or 1) -> float32."""
    in_size = x.shape[axis]
    first, weights = aa_weights(in_size, out_size)
    shape = [1] * x.ndim
    shape[axis] = out_size
    out: np.ndarray | None = None
    for k in range(weights.shape[1]):
        index = np.minimum(first + k, in_size - 1)
        term = np.take(x, index, axis=axis).astype(np.float32, copy=False)
        term = term * weights[:, k].reshape(shape)
        out = term if out is None else np.add(out, term, out=out)
    assert out is not None
    return out


def resize_bilinear_aa(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """Antialiased bilinear resize of ``x`` (H, W) or (H, W, C), uint8 or float -> float32
    (height, width[, C]), values in the input's units (uint8 stays 0..255, not divided).

    Matches torch's ``F.interpolate(mode="bilinear", align_corners=False, antialias=True)``;
    an unchanged size returns a float32 copy. Rows are processed in blocks so a 100 MP output
    needs only a few row blocks of temporaries beyond the result.
    """
    if height < 1 or width < 1:
        raise ValueError(f"target size must be at least 1×1, got {width}×{height}")
    if x.shape[0] == height and x.shape[1] == width:
        return x.astype(np.float32)
    if height <= x.shape[0]:  # shrink the rows first: the column pass then sees fewer rows
        return _resize_axis(_resize_axis(x, 0, height), 1, width)
    narrow = _resize_axis(x, 1, width) if x.shape[1] != width else x.astype(np.float32)
    first, weights = aa_weights(x.shape[0], height)
    out = np.empty((height, *narrow.shape[1:]), np.float32)
    bshape = (-1,) + (1,) * (narrow.ndim - 1)
    for start in range(0, height, _ROW_BLOCK):
        stop = min(height, start + _ROW_BLOCK)
        block = out[start:stop]
        block[...] = 0.0
        for k in range(weights.shape[1]):
            index = np.minimum(first[start:stop] + k, x.shape[0] - 1)
            block += narrow[index] * weights[start:stop, k].reshape(bshape)
    return out


def to_square(image: np.ndarray, size: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 (3, size, size) in [0, 1]: resized so the long side is
    ``size`` (aspect kept), centred and padded by replicating its edge pixels."""
    h, w, top, left = fit_geometry(image.shape[0], image.shape[1], size)
    x = resize_bilinear_aa(image, h, w) / np.float32(255.0)
    pads = ((top, size - h - top), (left, size - w - left), (0, 0))
    if any(p for pair in pads for p in pair):
        x = np.pad(x, pads, mode="edge")
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def from_square(pred: np.ndarray, height: int, width: int) -> np.ndarray:
    """float (size, size) prediction -> float32 (height, width): padding cropped, resized back."""
    size = pred.shape[-1]
    h, w, top, left = fit_geometry(height, width, size)
    crop = np.asarray(pred[top : top + h, left : left + w], dtype=np.float32)
    if (h, w) != (height, width):
        crop = resize_bilinear_aa(crop, height, width)
    return np.ascontiguousarray(crop, dtype=np.float32)
