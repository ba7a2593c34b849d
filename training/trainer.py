"""The training loop behind ``decompose-train fit``.

One process, or many under ``torchrun`` (DistributedDataParallel + DistributedSampler, rank 0
checkpoints, validates and logs). AdamW with two parameter groups (encoder; decoder + head), linear
warm-up then cosine decay per optimizer step, gradient clipping, gradient accumulation, bf16
autocast + TF32 on CUDA.

Files in ``save_dir``: ``checkpoint.pt`` (latest; atomic), ``train_log.jsonl`` (one JSON object
per line: ``event`` = "start" | "train" | "val" | "checkpoint" | "end"), ``final/`` and ``best/``
(``model.save_pretrained`` folders; ``best`` by validation Order-FG).

Exact resume: the checkpoint holds model, optimizer, scheduler, step, data position (epoch and
micro-batch) and the torch / numpy / python (and CUDA) RNG states. The data order of an epoch is a
function of (seed, epoch) and each sample's augmentation a function of (seed, epoch, index), so
neither depends on the number of loader workers nor on where a run was interrupted.

Precision (``use_amp``, :func:`resolve_amp`): bf16 autocast on CUDA, and on a CPU whose
instruction set has native bf16 (AVX-512 BF16 or AMX-BF16, read from ``/proc/cpuinfo``) with
oneDNN available; otherwise fp32. The choice and its reason are in the "start" log line.
"""

from __future__ import annotations

import functools
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Sampler

from model import LayerIndexNet, ModelConfig, create_model, from_pretrained, load_depth_pro
from model import save_pretrained as save_model
from training.config import TrainConfig
from training.datasets import DatasetError, LayerIndexDataset, read_records
from training.losses import loss_terms, ssi_mae_loss
from training.metrics import all_metrics, mean_metrics
from training.pretrained import init_encoder

CHECKPOINT_NAME = "checkpoint.pt"
LOG_NAME = "train_log.jsonl"
CHECKPOINT_VERSION = 1
BEST_METRIC = "order_fg"  # higher is better


class TrainingError(RuntimeError):
    """A training run that cannot start or continue; the message says why."""


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


@dataclass
class TrainResult:
    """What a run did: optimizer steps reached, per-step mean losses of this call, why it stopped."""

    step: int
    total_steps: int
    losses: list[float] = field(default_factory=list)
    stopped: str = "done"  # "done" | "time_budget" | "interrupted" | "stop_at_step"
    checkpoint: Path | None = None
    final_dir: Path | None = None
    last_val: dict[str, float] | None = None


def setup_distributed() -> DistInfo:
    """Join the process group described by torchrun's env vars (no-op when WORLD_SIZE ≤ 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def pick_device(info: DistInfo) -> torch.device:
    """cuda:LOCAL_RANK when CUDA is available, else CPU."""
    if torch.cuda.is_available():
        torch.cuda.set_device(info.local_rank)
        return torch.device("cuda", info.local_rank)
    return torch.device("cpu")


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def native_bf16_flags(cpuinfo: str) -> list[str]:
    """The native-bf16 instruction-set flags (``NATIVE_BF16_FLAGS``) in /proc/cpuinfo text."""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return [f for f in NATIVE_BF16_FLAGS if f in flags]


@functools.cache
def cpu_bf16_support(cpuinfo_path: str = "/proc/cpuinfo") -> tuple[bool, str]:
    """(supported, reason): whether bf16 autocast on this CPU runs on native bf16 instructions
    through oneDNN. Unknown (no cpuinfo, no oneDNN) counts as unsupported."""
    if not torch.backends.mkldnn.is_available():
        return False, "oneDNN is not available in this torch build"
    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False, f"CPU flags unknown ({cpuinfo_path} unreadable)"
    native = native_bf16_flags(text)
    if not native:
        return False, "CPU has no native bf16 (no avx512_bf16 / amx_bf16 flag)"
    return True, "CPU has " + " + ".join(native)


def resolve_amp(requested: bool, device: torch.device) -> tuple[bool, str]:
    """(use bf16 autocast, reason) for ``use_amp=requested`` on ``device``."""
    if not requested:
        return False, "disabled (use_amp off)"
    if device.type == "cuda":
        return True, "CUDA"
    if device.type == "cpu":
        return cpu_bf16_support()
    return False, f"no bf16 autocast on {device.type}"


def build_model(cfg: TrainConfig) -> tuple[LayerIndexNet, dict[str, str] | None]:
    """(network to train, pretrained-encoder provenance or None): Apple's checkpoint, a saved
    model, or a fresh preset (its encoder optionally from ``cfg.init_encoder``)."""
    size = {"working_size": cfg.working_size} if cfg.working_size else {}
    if cfg.checkpoint_path:
        return load_depth_pro(cfg.checkpoint_path, **size).train(), None
    if cfg.init_from:
        return from_pretrained(cfg.init_from, **size).train(), None
    net = create_model(cfg.preset, **size)
    source = init_encoder(net, cfg.init_encoder) if cfg.init_encoder else None
    return net.train(), source


def param_groups(net: LayerIndexNet, cfg: TrainConfig) -> list[dict[str, Any]]:
    """AdamW groups: ``encoder`` at encoder_lr; everything else (decoder + head) at learning_rate."""
    enc_ids = {id(p) for p in net.encoder.parameters()}
    enc = [p for p in net.encoder.parameters() if p.requires_grad]
    rest = [p for p in net.parameters() if id(p) not in enc_ids and p.requires_grad]
    return [
        {"name": "encoder", "params": enc, "lr": cfg.encoder_lr},
        {"name": "decoder_head", "params": rest, "lr": cfg.learning_rate},
    ]


def lr_factor(step: int, warmup: int, total: int, min_ratio: float = 0.0) -> float:
    """Multiplier of each group's peak lr for optimizer step ``step`` (0-based).

    Linear warm-up (step+1)/warmup for the first ``warmup`` steps, then cosine from 1 down to
    ``min_ratio`` at ``total``.
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Augmentation seed of one sample in one epoch (independent of worker and rank)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class ResumableSampler(Sampler):
    """Wraps a DistributedSampler: yields ``(index, augmentation seed)`` and can start mid-epoch."""

    def __init__(self, dataset: LayerIndexDataset, info: DistInfo, seed: int) -> None:
        self.inner = DistributedSampler(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
        )
        self.seed = seed
        self.epoch = 0
        self.start = 0

    def set_position(self, epoch: int, start: int) -> None:
        """Iterate epoch ``epoch`` from its ``start``-th sample (of this rank's share)."""
        self.inner.set_epoch(epoch)
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[tuple[int, int]]:
        for i in list(self.inner)[self.start :]:
            yield i, sample_seed(self.seed, self.epoch, i)

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.start)


def rng_state() -> dict[str, Any]:
    """Every global RNG state this process uses."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and python (same seed on every rank: identical initial weights)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save to a temp file in the same folder, fsync, then os.replace."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def resolve_resume(resume: str | os.PathLike[str] | None, save_dir: Path) -> Path | None:
    """Checkpoint to resume from: "auto" = save_dir's if present (else None), or a file/folder."""
    if resume is None:
        return None
    if str(resume) == "auto":
        path = save_dir / CHECKPOINT_NAME
        return path if path.is_file() else None
    path = Path(resume)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise TrainingError(f"{path}: checkpoint to resume from not found")
    return path


class JsonLog:
    """Append-only JSON-lines log (rank 0 only; other ranks write nothing)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def write(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        rec = {"event": event, "time": round(time.time(), 3), **fields}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec, allow_nan=True) + "\n")


@torch.no_grad()
def validate(
    net: nn.Module, dataset: LayerIndexDataset, device: torch.device, batch_size: int, amp: bool
) -> dict[str, float]:
    """Mean metrics (Order, Order-FG, SI-MAE/MSE) and SSI-MAE loss on ``dataset`` at working size.

    Metrics use only each image's unpadded region. Restores the network's training flag.
    """
    was_training = net.training
    net.eval()
    per_image: list[dict[str, float]] = []
    losses: list[float] = []
    try:
        for start in range(0, len(dataset), batch_size):
            items = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
            x = torch.stack([it["image"] for it in items]).to(device)
            label = torch.stack([it["label"] for it in items]).to(device)
            mask = torch.stack([it["mask"] for it in items]).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                pred = net(x)
            pred = pred.float()
            losses.append(float(ssi_mae_loss(pred, label, mask)) * len(items))
            for p, g, m in zip(pred[:, 0].cpu(), label[:, 0].cpu(), mask[:, 0].cpu(), strict=True):
                rows, cols = torch.nonzero(m.any(dim=1))[:, 0], torch.nonzero(m.any(dim=0))[:, 0]
                box = (
                    slice(int(rows[0]), int(rows[-1]) + 1),
                    slice(int(cols[0]), int(cols[-1]) + 1),
                )
                per_image.append(all_metrics(p[box].numpy(), g[box].numpy()))
    finally:
        net.train(was_training)
    out = mean_metrics(per_image)
    out["loss"] = sum(losses) / len(dataset)
    return out


class Trainer:
    """Holds one run's state; :meth:`run` trains until done, budget, signal or ``stop_at_step``."""

    def __init__(
        self,
        cfg: TrainConfig,
        resume: str | os.PathLike[str] | None = None,
        progress: bool = True,
    ) -> None:
        self.cfg = cfg
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        self.info = setup_distributed()
        self.device = pick_device(self.info)
        self.amp, self.amp_reason = resolve_amp(cfg.use_amp, self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        self.save_dir = Path(cfg.save_dir)
        self.log = JsonLog(self.save_dir / LOG_NAME, self.info.is_main)
        self.progress = progress and self.info.is_main
        self.resume_path = resolve_resume(resume, self.save_dir)

        seed_everything(cfg.seed)
        ckpt = self._load_checkpoint(self.resume_path) if self.resume_path else None
        self.encoder_source: dict[str, str] | None = None
        if ckpt is not None:
            self.net = LayerIndexNet(ModelConfig.from_dict(ckpt["model_config"]))
            self.net.load_state_dict(ckpt["model"])
            self.net.train()
            self.encoder_source = ckpt.get("encoder_source")
        else:
            self.net, self.encoder_source = build_model(cfg)
        self.net.to(self.device)
        mcfg = self.net.config

        data = Path(cfg.data_dir)
        self.train_set = LayerIndexDataset(
            data, "train", mcfg.working_size, mcfg.mean, mcfg.std, augment=cfg.augment
        )
        self.val_set: LayerIndexDataset | None = None
        if read_records(data, "val"):
            self.val_set = LayerIndexDataset(
                data,
                "val",
                mcfg.working_size,
                mcfg.mean,
                mcfg.std,
                limit=cfg.val_limit,
                spread=True,
            )
        self.sampler = ResumableSampler(self.train_set, self.info, cfg.seed)
        per_rank = len(self.sampler.inner)
        if per_rank < cfg.batch_size:
            raise TrainingError(
                f"{data}: {per_rank} training samples per process, fewer than batch size "
                f"{cfg.batch_size}"
            )
        self.micro_per_epoch = per_rank // cfg.batch_size
        self.total_steps = cfg.max_steps or max(
            1, cfg.num_epochs * self.micro_per_epoch // cfg.accum_steps
        )

        if self.info.is_main:  # only once the data and model are known to be usable
            self.save_dir.mkdir(parents=True, exist_ok=True)
        self.model: nn.Module = self.net
        if self.info.enabled:
            self.model = DistributedDataParallel(
                self.net,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        self.optimizer = torch.optim.AdamW(
            param_groups(self.net, cfg), weight_decay=cfg.weight_decay, betas=cfg.betas
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(s, cfg.warmup_steps, self.total_steps, cfg.min_lr_ratio),
        )
        self.step = 0
        self.epoch = 0
        self.micro = 0  # micro-batches consumed in the current epoch
        self.best: float | None = None
        self.elapsed_before = 0.0  # seconds spent in earlier (resumed) sessions
        if ckpt is not None:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
            self.step, self.epoch, self.micro = ckpt["step"], ckpt["epoch"], ckpt["micro"]
            self.best = ckpt.get("best")
            self.elapsed_before = float(ckpt.get("elapsed_s", 0.0))
            set_rng_state(ckpt["rng"])
        self._stop_signal: str | None = None
        self._t0: float | None = None

    # ----------------------------------------------------------------- checkpoints
    def _load_checkpoint(self, path: Path) -> dict[str, Any]:
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=False)
        except (OSError, RuntimeError, EOFError) as exc:
            raise TrainingError(f"{path}: unreadable checkpoint ({exc})") from exc
        if not isinstance(ckpt, dict) or ckpt.get("version") != CHECKPOINT_VERSION:
            raise TrainingError(f"{path}: not a training checkpoint of this version")
        saved = ModelConfig.from_dict(ckpt["model_config"])
        fresh_preset = not (self.cfg.checkpoint_path or self.cfg.init_from)
        if (fresh_preset and saved.preset != self.cfg.preset) or (
            self.cfg.working_size and saved.working_size != self.cfg.working_size
        ):
            raise TrainingError(
                f"{path}: checkpoint is preset {saved.preset!r} at {saved.working_size} px; "
                f"this run asks for {self.cfg.preset!r} at {self.cfg.working_size or 'preset'} px"
            )
        return ckpt

    def save_checkpoint(self) -> Path:
        """Write save_dir/checkpoint.pt atomically (rank 0); returns its path."""
        path = self.save_dir / CHECKPOINT_NAME
        if self.info.is_main:
            atomic_torch_save(
                {
                    "version": CHECKPOINT_VERSION,
                    "model": self.net.state_dict(),
                    "model_config": self.net.config.to_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "step": self.step,
                    "epoch": self.epoch,
                    "micro": self.micro,
                    "best": self.best,
                    "elapsed_s": self.elapsed(),
                    "rng": rng_state(),
                    "train_config": self.cfg.to_dict(),
                    "encoder_source": self.encoder_source,
                },
                path,
            )
            self.log.write("checkpoint", step=self.step, path=str(path))
        return path

    def save_model(self, name: str, val: dict[str, float] | None, stopped: str) -> Path:
        """model.save_pretrained into save_dir/name with the run's metadata (rank 0)."""
        out = self.save_dir / name
        if self.info.is_main:
            meta = {
                "training": {
                    "step": self.step,
                    "total_steps": self.total_steps,
                    "epoch": self.epoch,
                    "stopped": stopped,
                    "elapsed_s": round(self.elapsed(), 1),
                    "data_dir": str(self.cfg.data_dir),
                    "train_samples": len(self.train_set),
                    "world_size": self.info.world_size,
                    "precision": "bf16-autocast" if self.amp else "fp32",
                    "pretrained_encoder": self.encoder_source,
                    "config": self.cfg.to_dict(),
                    "validation": val,
                }
            }
            save_model(self.net, out, metadata=json.loads(json.dumps(meta, default=str)))
        return out

    # ----------------------------------------------------------------- loop
    def elapsed(self) -> float:
        """Training seconds over all sessions of this run (resumed ones included)."""
        session = time.monotonic() - self._t0 if self._t0 is not None else 0.0
        return self.elapsed_before + session

    def _loader(self) -> DataLoader:
        self.sampler.set_position(self.epoch, self.micro * self.cfg.batch_size)
        return DataLoader(
            self.train_set,
            batch_size=self.cfg.batch_size,
            sampler=self.sampler,
            num_workers=self.cfg.num_workers,
            drop_last=True,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(self.cfg.seed + self.epoch),
            persistent_workers=False,
        )

    def _all_ranks_agree(self, flag: bool) -> bool:
        """True when any rank raised ``flag`` (so every rank stops at the same step)."""
        if not self.info.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _mean_over_ranks(self, value: float) -> float:
        if not self.info.enabled:
            return value
        t = torch.tensor([value], device=self.device, dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.info.world_size

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._stop_signal = signal.Signals(signum).name

    def _validate_and_keep_best(self) -> dict[str, float] | None:
        val = None
        if self.info.is_main and self.val_set is not None:
            val = validate(self.net, self.val_set, self.device, self.cfg.batch_size, self.amp)
            self.log.write("val", step=self.step, **val)
            score = val.get(BEST_METRIC, float("nan"))
            if math.isfinite(score) and (self.best is None or score > self.best):
                self.best = score
                self.save_model("best", val, "best")
        if self.info.enabled:
            dist.barrier()
        return val

    def run(self, stop_at_step: int | None = None) -> TrainResult:
        """Train to ``total_steps`` (or the time budget / a signal / ``stop_at_step``), then
        write a checkpoint and the final model. Returns what happened."""
        cfg = self.cfg
        self._t0 = time.monotonic()
        session_start = time.monotonic()
        result = TrainResult(step=self.step, total_steps=self.total_steps)
        old_handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
        self.log.write(
            "start",
            step=self.step,
            total_steps=self.total_steps,
            resumed_from=str(self.resume_path) if self.resume_path else None,
            world_size=self.info.world_size,
            device=str(self.device),
            amp="bf16" if self.amp else "off",
            amp_reason=self.amp_reason,
            pretrained_encoder=self.encoder_source,
            train_samples=len(self.train_set),
            val_samples=len(self.val_set) if self.val_set else 0,
            config=cfg.to_dict(),
        )
        bar = _ProgressBar(self.progress, self.total_steps, self.step)
        stopped = "done"
        last_val: dict[str, float] | None = None
        try:
            accum_losses: list[float] = []
            accum_terms: dict[str, float] = {}
            accum_samples = 0
            step_t0 = time.monotonic()
            while self.step < self.total_steps and stopped == "done":
                for batch in self._loader():
                    self.micro += 1
                    x = batch["image"].to(self.device, non_blocking=True)
                    y = batch["label"].to(self.device, non_blocking=True)
                    m = batch["mask"].to(self.device, non_blocking=True)
                    sync = len(accum_losses) + 1 == cfg.accum_steps
                    ctx = self.model.no_sync() if self.info.enabled and not sync else nullcontext()
                    with ctx:
                        with torch.autocast(
                            self.device.type, dtype=torch.bfloat16, enabled=self.amp
                        ):
                            pred = self.model(x)
                        terms = loss_terms(
                            pred.float(),
                            y,
                            m,
                            edge_weight=cfg.edge_weight,
                            rank_weight=cfg.rank_loss_weight,
                            rank_pairs=cfg.rank_pairs,
                            rank_fg_weight=cfg.rank_fg_weight,
                        )
                        loss = torch.stack(list(terms.values())).sum()
                        (loss / cfg.accum_steps).backward()
                    accum_losses.append(float(loss.detach()))
                    for name, value in terms.items():
                        accum_terms[name] = accum_terms.get(name, 0.0) + float(value.detach())
                    accum_samples += x.shape[0]
                    if not sync:
                        continue
                    grad_norm = nn.utils.clip_grad_norm_(
                        self.net.parameters(), cfg.grad_clip if cfg.grad_clip > 0 else math.inf
                    )
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    self.step += 1
                    step_loss = sum(accum_losses) / len(accum_losses)
                    step_terms = {k: v / len(accum_losses) for k, v in accum_terms.items()}
                    accum_losses, accum_terms = [], {}
                    result.losses.append(step_loss)
                    now = time.monotonic()
                    if self.step % cfg.log_every == 0 or self.step == 1:
                        mean_loss = self._mean_over_ranks(step_loss)
                        self.log.write(
                            "train",
                            step=self.step,
                            epoch=self.epoch,
                            loss=mean_loss,
                            **{f"loss_{k}": v for k, v in step_terms.items()},
                            lr_encoder=self.optimizer.param_groups[0]["lr"],
                            lr_decoder=self.optimizer.param_groups[1]["lr"],
                            grad_norm=float(grad_norm),
                            samples_per_s=accum_samples
                            * self.info.world_size
                            / max(now - step_t0, 1e-9),
                            elapsed_s=round(self.elapsed(), 2),
                        )
                    bar.update(self.step, step_loss)
                    accum_samples = 0
                    step_t0 = time.monotonic()
                    if (
                        cfg.val_every
                        and self.step % cfg.val_every == 0
                        and self.step < self.total_steps
                    ):
                        last_val = self._validate_and_keep_best()
                    if (
                        cfg.ckpt_every
                        and self.step % cfg.ckpt_every == 0
                        and self.step < self.total_steps
                    ):
                        self.save_checkpoint()
                    # stop decisions are shared so every rank leaves at the same step
                    session_s = time.monotonic() - session_start  # incl. validation, saving
                    over_budget = cfg.time_budget_min is not None and (
                        session_s + session_s / len(result.losses) >= cfg.time_budget_min * 60
                    )
                    reason = None
                    if self._stop_signal:
                        reason = "interrupted"
                    elif over_budget:
                        reason = "time_budget"
                    elif stop_at_step is not None and self.step >= stop_at_step:
                        reason = "stop_at_step"
                    if self._all_ranks_agree(reason is not None):
                        stopped = reason or "interrupted"
                        break
                    if self.step >= self.total_steps:
                        break
                else:
                    self.epoch += 1
                    self.micro = 0
        finally:
            bar.close()
            for sig, handler in old_handlers.items():
                signal.signal(sig, handler)
        if stopped != "stop_at_step":
            last_val = self._validate_and_keep_best() or last_val
        result.checkpoint = self.save_checkpoint()
        if self.info.enabled:
            dist.barrier()
        if stopped != "stop_at_step":
            result.final_dir = self.save_model("final", last_val, stopped)
        result.step, result.stopped, result.last_val = self.step, stopped, last_val
        self.log.write(
            "end",
            step=self.step,
            stopped=stopped,
            elapsed_s=round(self.elapsed(), 2),
            final=str(result.final_dir) if result.final_dir else None,
        )
        return result


class _ProgressBar:
    """A rich progress bar over optimizer steps (no-op when disabled)."""

    def __init__(self, enabled: bool, total: int, done: int) -> None:
        self.progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.progress.add_task("train", total=total, completed=done, loss="-")
            self.progress.start()

    def update(self, step: int, loss: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=step, loss=f"{loss:.4f}")

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def train(
    cfg: TrainConfig,
    resume: str | os.PathLike[str] | None = None,
    progress: bool = True,
    stop_at_step: int | None = None,
) -> TrainResult:
    """Run training with ``cfg`` (see :class:`Trainer`); ``resume``: "auto", a checkpoint file or
    a save folder. ``stop_at_step`` stops early with a checkpoint (as a time budget would)."""
    started_group = not dist.is_initialized()
    try:
        return Trainer(cfg, resume=resume, progress=progress).run(stop_at_step=stop_at_step)
    except DatasetError as exc:
        raise TrainingError(str(exc)) from exc
    finally:
        if started_group and dist.is_initialized():
            dist.destroy_process_group()
