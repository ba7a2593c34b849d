"""A real 2-process DistributedDataParallel run (gloo on CPU) launched with torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from model import from_pretrained
from model.config import ModelConfig
from model.network import LayerIndexNet
from training.trainer import CHECKPOINT_NAME, LOG_NAME


def test_two_process_gloo_run_completes_and_checkpoint_loads(
    synthetic_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = synthetic_dataset(8, 2)
    save = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "training.fit_cli", "--data-dir", str(data), "--save-dir", str(save),
        "--preset", "tiny", "--batch-size", "2", "--max-steps", "3", "--num-workers", "0",
        "--val-every", "2", "--ckpt-every", "2", "--no-progress",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=170, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done at step 3/3" in proc.stdout

    ckpt = torch.load(save / CHECKPOINT_NAME, map_location="cpu", weights_only=False)
    assert ckpt["step"] == 3
    net = LayerIndexNet(ModelConfig.from_dict(ckpt["model_config"]))
    net.load_state_dict(ckpt["model"])  # strict: every key of the unwrapped model
    final = from_pretrained(save / "final")
    assert all(torch.equal(final.state_dict()[k], v) for k, v in net.state_dict().items())

    records = [json.loads(line) for line in (save / LOG_NAME).open()]
    start = next(r for r in records if r["event"] == "start")
    assert start["world_size"] == 2
    assert sum(r["event"] == "start" for r in records) == 1  # rank 0 logs alone
    # 8 samples over 2 ranks of batch 2: 2 steps per epoch, so step 3 is in epoch 1
    assert ckpt["epoch"] == 1
