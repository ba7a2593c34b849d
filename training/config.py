"""Training configuration: the frozen ``TrainConfig`` and its named recipes.

A recipe is a named set of defaults (``RECIPES``); ``make_config(recipe, **overrides)`` applies a
user's explicit choices on top (``None`` = keep the recipe's value), so ``--recipe paper
--batch-size 4`` is the paper's recipe with a smaller batch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation (applied to image and label alike where geometric).

    Probabilities in [0, 1]; jitter strengths as in torchvision's ColorJitter; blur sigma in px.
    """

    color_jitter: float = 0.2  # brightness = contrast = saturation = hue strength
    invert_p: float = 0.3
    blur_p: float = 0.5
    blur_sigma: tuple[float, float] = (0.01, 2.0)
    background_p: float = 0.3  # replace label-0 pixels by a random flat colour / gradient / noise
    jpeg_p: float = 0.2
    jpeg_quality: tuple[int, int] = (40, 95)
    scale_crop_p: float = 0.5  # random crop keeping this fraction of each side or more
    min_crop: float = 0.6
    hflip_p: float = 0.5

    def __post_init__(self) -> None:
        for name in ("invert_p", "blur_p", "background_p", "jpeg_p", "scale_crop_p", "hflip_p"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"augmentation {name} must be in [0, 1], got {v}")
        if not 0.0 < self.min_crop <= 1.0:
            raise ValueError(f"augmentation min_crop must be in (0, 1], got {self.min_crop}")
        if self.color_jitter < 0 or self.color_jitter > 0.5:
            raise ValueError(f"color_jitter must be in [0, 0.5], got {self.color_jitter}")


NO_AUGMENT = AugmentConfig(
    color_jitter=0.0,
    invert_p=0.0,
    blur_p=0.0,
    background_p=0.0,
    jpeg_p=0.0,
    scale_crop_p=0.0,
    hflip_p=0.0,
)
PAPER_AUGMENT = AugmentConfig(
    blur_p=1.0, background_p=0.0, jpeg_p=0.0, scale_crop_p=0.0, hflip_p=0.0
)  # the paper code: ColorJitter 0.2, RandomInvert 0.3, GaussianBlur σ∈[0.01, 2], photometric only


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; saved into every checkpoint and the final model."""

    data_dir: str = ""
    save_dir: str = "runs/default"
    preset: str = "small"
    working_size: int | None = None  # px; None = the preset's
    checkpoint_path: str | None = None  # Apple's depth_pro.pt (preset must be "depthpro")
    init_from: str | None = None  # a save_pretrained folder to start from (fine-tune)
    init_encoder: str | None = None  # pretrained encoder (training.pretrained); None/"" = random
    batch_size: int = 8  # per process, per micro-batch
    accum_steps: int = 1  # micro-batches per optimizer step
    num_epochs: int = 40
    max_steps: int | None = None  # optimizer steps; None = num_epochs worth
    learning_rate: float = 1e-4  # decoder + head
    encoder_lr: float = 1e-5
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 100
    min_lr_ratio: float = 0.0  # cosine floor as a fraction of each group's peak lr
    grad_clip: float = 1.0
    use_amp: bool = True  # bf16 autocast on CUDA, and on a CPU with native bf16 (AVX-512 BF16/AMX)
    use_edge_loss: bool = False
    edge_loss_weight: float = 0.0
    rank_loss_weight: float = 0.0  # weight of training.losses.pairwise_rank_loss (0 = off)
    rank_pairs: int = 4096  # pixel pairs drawn per image for the ranking loss
    rank_fg_weight: float = 4.0  # weight of pairs whose pixels both lie on drawn pieces
    num_workers: int = 2
    num_threads: int | None = None  # torch intra-op threads; None = torch's default (all cores)
    seed: int = 42
    val_every: int = 500  # optimizer steps; 0 = only at the end
    val_limit: int = 64  # validation images per evaluation (evenly spread over the split)
    ckpt_every: int = 250  # optimizer steps; 0 = only at the end
    log_every: int = 10
    time_budget_min: float | None = None  # stop cleanly after this many minutes
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        positive = ("batch_size", "accum_steps", "num_epochs", "log_every", "rank_pairs")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        for name in (
            "learning_rate",
            "encoder_lr",
            "weight_decay",
            "grad_clip",
            "edge_loss_weight",
            "rank_loss_weight",
            "rank_fg_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        for name in ("val_every", "ckpt_every", "warmup_steps", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0, got {getattr(self, name)}")
        if self.num_threads is not None and self.num_threads < 1:
            raise ValueError(f"num_threads must be ≥ 1, got {self.num_threads}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be ≥ 1, got {self.max_steps}")
        if self.time_budget_min is not None and self.time_budget_min <= 0:
            raise ValueError(f"time budget must be > 0 minutes, got {self.time_budget_min}")
        if self.checkpoint_path and self.preset != "depthpro":
            raise ValueError("--checkpoint-path (Apple's depth_pro.pt) needs --preset depthpro")
        if self.init_encoder and (self.checkpoint_path or self.init_from):
            raise ValueError(
                "--init-encoder initialises a fresh preset; it cannot be combined with "
                "--checkpoint-path or --init-from"
            )

    @property
    def edge_weight(self) -> float:
        """Effective edge-loss weight (0 unless use_edge_loss)."""
        return self.edge_loss_weight if self.use_edge_loss else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (nested augmentation config included)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        d = dict(data)
        aug = d.pop("augment", None)
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        if isinstance(aug, dict):
            aug = AugmentConfig(
                **{k: tuple(v) if isinstance(v, list) else v for k, v in aug.items()}
            )
        return cls(**d, augment=aug if aug is not None else AugmentConfig())


RECIPES: dict[str, dict[str, Any]] = {
    # Issue 4 defaults: encoder 1e-5, decoder + head 1e-4, AdamW wd 1e-4, our augmentations.
    "default": {},
    # The paper code's settings (PAPER_NOTES §6): fine-tune Depth Pro at 1536².
    "paper": {
        "preset": "depthpro",
        "working_size": 1536,
        "encoder_lr": 1e-6,
        "learning_rate": 5e-6,
        "weight_decay": 0.01,
        "warmup_steps": 100,
        "num_epochs": 40,
        "batch_size": 16,
        "grad_clip": 1.0,
        "use_amp": False,  # the paper code trains in fp32 with TF32 matmuls
        "augment": PAPER_AUGMENT,
    },
    # From-scratch training of the `small` preset on a CPU: the encoder is not pretrained, so it
    # gets the decoder's learning rate; short warm-up.
    "cpu-scratch": {
        "preset": "small",
        "encoder_lr": 3e-4,
        "learning_rate": 3e-4,
        "weight_decay": 1e-4,
        "warmup_steps": 200,
        "batch_size": 8,
        "min_lr_ratio": 0.05,
        "num_workers": 1,
    },
    # The parts model (issue 9): `lite0` from ImageNet EfficientNet-Lite0 weights, SSI-MAE +
    # edge + pairwise ranking of pieces; bf16 autocast on a CPU that has it. Learning rates from
    # the probes in training/RUNS.md.
    "cpu-parts": {
        "preset": "lite0",
        "init_encoder": "efficientnet-lite0-imagenet",
        "encoder_lr": 3e-4,
        "learning_rate": 1e-3,
        "weight_decay": 1e-4,
        "warmup_steps": 50,
        "batch_size": 8,
        "min_lr_ratio": 0.05,
        "num_workers": 1,
        "use_edge_loss": True,
        "edge_loss_weight": 0.1,
        "rank_loss_weight": 1.0,
    },
}


def list_recipes() -> list[str]:
    """Names accepted by :func:`make_config`."""
    return list(RECIPES)


def make_config(recipe: str = "default", **overrides: Any) -> TrainConfig:
    """TrainConfig from a named recipe plus explicit overrides (``None`` values are ignored)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {', '.join(RECIPES)}")
    known = {f.name for f in fields(TrainConfig)}
    chosen = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(unknown)}")
    return TrainConfig(**{**RECIPES[recipe], **chosen})
