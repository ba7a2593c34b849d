"""Training throughput (samples/s) per preset on this machine, at its working size and at 256 px.

For each (preset, size): one full optimizer step exactly as the trainer does it (forward, the
loss — SSI-MAE, + edge and pairwise ranking terms with ``--rank`` —, backward, grad clip, AdamW
with the encoder / decoder+head groups) on batches of `training.synthetic` scenes, after one
warm-up step, in fp32 and under bf16 autocast (columns "fp32/s" and "bf16/s"; the trainer's
``use_amp`` picks bf16 on CUDA and on a CPU with native bf16, see the first line); also the data
pipeline alone (PNG decode, augmentations, resize/pad, normalise) in samples/s per loader worker,
so one can see which side limits a run. TF32 is on for CUDA as in the trainer.

    python benchmarks/bench_train.py                          # tiny and small, batch 4
    python benchmarks/bench_train.py --presets small lite0 --sizes 256 --batch 8 --threads 2
    python benchmarks/bench_train.py --presets depthpro --sizes 256 --steps 2   # heavy
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from model import create_model
from training.config import AugmentConfig, TrainConfig
from training.datasets import LayerIndexDataset
from training.losses import layer_index_loss
from training.synthetic import SyntheticConfig, synthetic_sample
from training.trainer import param_groups, resolve_amp


def write_scenes(folder: Path, count: int, size: int) -> None:
    """`count` synthetic scenes of size² px in the dataset layout (all in split 'train')."""
    (folder / "rgb").mkdir(parents=True)
    (folder / "label").mkdir()
    lines = ["name,source,licence,visible_pieces,split"]
    for i in range(count):
        rgb, label = synthetic_sample(i, SyntheticConfig(size=size))
        Image.fromarray(rgb).save(folder / "rgb" / f"b{i}.png")
        Image.fromarray(label).save(folder / "label" / f"b{i}.png")
        lines.append(f"b{i},synthetic,CC0-1.0,{int(label.max())},train")
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")


def bench_data(folder: Path, size: int, n: int) -> float:
    """Samples/s of the augmented data pipeline in this process (one worker's throughput)."""
    ds = LayerIndexDataset(folder, "train", size, augment=AugmentConfig())
    ds[(0, 0)]
    t0 = time.perf_counter()
    for i in range(n):
        ds[(i % len(ds), i)]
    return n / (time.perf_counter() - t0)


def bench_steps(
    preset: str,
    size: int,
    folder: Path,
    batch: int,
    steps: int,
    device: torch.device,
    amp: bool,
    rank: bool,
) -> tuple[float, float, int]:
    """(samples/s, s per step, parameters) of full training steps, bf16 autocast if ``amp``."""
    net = create_model(preset, working_size=size).to(device).train()
    cfg = TrainConfig(preset=preset)
    opt = torch.optim.AdamW(param_groups(net, cfg), weight_decay=cfg.weight_decay)
    ds = LayerIndexDataset(folder, "train", size, augment=AugmentConfig())
    items = [ds[(i % len(ds), i)] for i in range(batch)]
    x = torch.stack([it["image"] for it in items]).to(device)
    y = torch.stack([it["label"] for it in items]).to(device)
    m = torch.stack([it["mask"] for it in items]).to(device)
    weights = {"edge_weight": 0.1, "rank_weight": 1.0} if rank else {}

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = net(x)
        loss = layer_index_loss(pred.float(), y, m, **weights)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    return batch / dt, dt, sum(p.numel() for p in net.parameters())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"])
    ap.add_argument("--sizes", nargs="+", type=int, default=None, help="default: preset's, 256")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--rank", action="store_true", help="add the edge and ranking loss terms")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    amp, reason = resolve_amp(True, device)
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}, "
        f"load average {load:.1f} on {os.cpu_count()} cores; trainer default precision: "
        f"{'bf16 autocast' if amp else 'fp32'} ({reason})"
    )
    print(
        f"{'preset':<9}{'size':>6}{'params':>12}{'s/step fp32':>13}{'fp32/s':>8}"
        f"{'s/step bf16':>13}{'bf16/s':>8}{'data/s/worker':>15}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "scenes"
        write_scenes(folder, max(8, args.batch), 512)
        for preset in args.presets:
            native = create_model(preset).config.working_size
            sizes = args.sizes or sorted({native, 256}, reverse=True)
            for size in sizes:
                run = (preset, size, folder, args.batch, args.steps, device)
                sps32, dt32, params = bench_steps(*run, amp=False, rank=args.rank)
                sps16, dt16, _ = bench_steps(*run, amp=True, rank=args.rank)
                data = bench_data(folder, size, 16)
                print(
                    f"{preset:<9}{size:>6}{params:>12,}{dt32:>13.2f}{sps32:>8.2f}"
                    f"{dt16:>13.2f}{sps16:>8.2f}{data:>15.1f}"
                )


if __name__ == "__main__":
    main()
