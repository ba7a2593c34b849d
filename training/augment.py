"""Training augmentations on (image, label) pairs.

image: uint8 (H, W, 3) RGB; label: int64 (H, W) dense rank, 0 = background. Geometric transforms
(scale/crop, flip) move image and label alike (nearest for labels); photometric ones (random
background, colour jitter, invert, blur, JPEG) touch the image only. Every random choice comes from
the ``numpy.random.Generator`` passed in, so a sample's augmentation is reproducible from its seed.
"""

from __future__ import annotations

import io

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image, ImageFilter

from training.config import AugmentConfig


def densify(label: np.ndarray) -> np.ndarray:
    """Dense rank of a label map, keeping 0 (background) at 0: int64 (H, W), values 0..K."""
    values, inverse = np.unique(label, return_inverse=True)
    ranks = inverse.reshape(label.shape).astype(np.int64)
    if values[0] != 0:
        ranks += 1
    return ranks


def random_scale_crop(
    image: np.ndarray, label: np.ndarray, rng: np.random.Generator, min_crop: float
) -> tuple[np.ndarray, np.ndarray]:
    """Crop a random box whose sides are each ≥ ``min_crop`` of the original (zoom in)."""
    h, w = label.shape
    ch = max(1, int(round(h * rng.uniform(min_crop, 1.0))))
    cw = max(1, int(round(w * rng.uniform(min_crop, 1.0))))
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    return image[y : y + ch, x : x + cw], label[y : y + ch, x : x + cw]


def geometric_augment(
    image: np.ndarray, label: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Scale/crop and horizontal flip applied to image and label alike; label re-densified."""
    if rng.random() < cfg.scale_crop_p:
        image, label = random_scale_crop(image, label, rng, cfg.min_crop)
    if rng.random() < cfg.hflip_p:
        image, label = image[:, ::-1], label[:, ::-1]
    return np.ascontiguousarray(image), densify(np.ascontiguousarray(label))


def random_background(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random backdrop, uint8 (H, W, 3): flat colour, linear gradient or paper-like noise."""
    h, w = shape
    kind = rng.integers(0, 3)
    c0 = rng.uniform(0, 255, size=3)
    if kind == 0:
        bg = np.broadcast_to(c0, (h, w, 3)).astype(np.float64)
    elif kind == 1:
        c1 = rng.uniform(0, 255, size=3)
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        t = np.cos(angle) * xx / max(w - 1, 1) + np.sin(angle) * yy / max(h - 1, 1)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        bg = c0 + (c1 - c0) * t[..., None]
    else:
        noise = rng.normal(0.0, rng.uniform(4, 20), size=(h, w, 1))
        img = Image.fromarray(np.clip(noise[..., 0] + 128, 0, 255).astype(np.uint8))
        smooth = np.asarray(img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 2.0))))
        bg = c0 + (smooth[..., None].astype(np.float64) - 128)
    return np.clip(bg, 0, 255).astype(np.uint8)


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, saturation (factor in [1−s, 1+s]) and hue (shift in [−s, s])."""
    if strength <= 0:
        return image
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    t = TF.adjust_brightness(t, float(rng.uniform(1 - strength, 1 + strength)))
    t = TF.adjust_contrast(t, float(rng.uniform(1 - strength, 1 + strength)))
    t = TF.adjust_saturation(t, float(rng.uniform(1 - strength, 1 + strength)))
    t = TF.adjust_hue(t, float(rng.uniform(-strength, strength)))
    return t.permute(1, 2, 0).contiguous().numpy()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` px (PIL's radius)."""
    return np.array(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma)))


def jpeg_artefacts(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through an in-memory JPEG at ``quality`` (1–95)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.array(im.convert("RGB"))


def photometric_augment(
    image: np.ndarray, label: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator
) -> np.ndarray:
    """Random background (label-0 pixels), colour jitter, invert, blur, JPEG; uint8 (H, W, 3)."""
    out = image
    if rng.random() < cfg.background_p and (label == 0).any():
        out = np.where((label == 0)[..., None], random_background(label.shape, rng), out)
    out = color_jitter(out, cfg.color_jitter, rng)
    if rng.random() < cfg.invert_p:
        out = 255 - out
    if rng.random() < cfg.blur_p:
        out = gaussian_blur(out, float(rng.uniform(*cfg.blur_sigma)))
    if rng.random() < cfg.jpeg_p:
        out = jpeg_artefacts(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return np.ascontiguousarray(out, dtype=np.uint8)
