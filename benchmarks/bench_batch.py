"""Batch throughput: the same folder converted with the threads executor and with Ray.

A folder of synthetic flat-colour illustrations (default 48 at 512x384) is converted with the
shipped default model (real work: the network at 512², regions, completion, PSD writing) by:

- threads, 2 workers x 1 PyTorch thread  (2 cores: the equal-cores reference for Ray)
- threads, 1 worker x 2 PyTorch threads  (the CLI's default)
- ray, 2 worker processes x 1 CPU, on a local cluster started by the run (as `--executor ray`
  without an address does)

Each configuration runs in a fresh process (the runner of `decompose`, as the CLI drives it).
Reported: wall time from process start to the last file (start-up included: Python, torch,
the model, for Ray the cluster and its workers), images/s with start-up, images/s without it
(between the 10th and the 90th percentile of the files' finish times), and peak memory (the largest sum of PSS over
the process tree, sampled every 0.2 s: the driver, and for Ray its cluster processes and
workers). The ratio line compares Ray with threads at equal cores; the target is Ray's
overhead <= 15 % without start-up.

    python benchmarks/bench_batch.py                      # 48 images, 512x384
    python benchmarks/bench_batch.py --images 96 --size 768x576 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "threads-2x1": {"executor": "threads", "workers": 2, "omp": "1"},
    "threads-1x2": {"executor": "threads", "workers": 1, "omp": None},
    "ray-2x1": {"executor": "ray", "workers": 2, "omp": None},
}


def make_folder(folder: Path, count: int, size: tuple[int, int]) -> None:
    """`count` flat illustrations: overlapping ellipses and boxes on a plain background."""
    rng = np.random.default_rng(0)
    width, height = size
    for number in range(count):
        image = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(image)
        for shape in range(12):
            x0, y0 = rng.integers(0, width * 3 // 4), rng.integers(0, height * 3 // 4)
            x1 = x0 + rng.integers(width // 10, width // 3)
            y1 = y0 + rng.integers(height // 10, height // 3)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if shape % 2 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
        sub = folder / f"set{number % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        image.save(sub / f"img{number:04d}.png")


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree(root: int) -> list[int]:
    """`root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                text = handle.read()
            parent = int(text[text.rfind(")") + 2 :].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class TreeMemory:
    """Samples the PSS of a process tree in a thread; `peak_mib` is the largest sum seen."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self.peak_kib = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in _tree(self.pid)))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_kib / 1024


def one(config: str, folder: Path, out: Path) -> dict:
    """Run one configuration in this process (the child); returns its timings."""
    born = time.time()
    from decomposer.batch import (
        BatchCallbacks,
        ExecutorSettings,
        Journal,
        ModelSpec,
        Plan,
        RunOptions,
        create_executor,
        run_batch,
    )
    from decomposer.batch.journal import JOURNAL_NAME
    from decomposer.options import DecomposeOptions

    settings = CONFIGS[config]
    finished: list[float] = []
    ready: list[float] = []
    options = RunOptions(decompose=DecomposeOptions(layers=6), model=ModelSpec())
    executor = create_executor(
        settings["executor"], ExecutorSettings(workers=int(settings["workers"]))
    )
    report = run_batch(
        Plan((str(folder),), out, "psd"),
        options,
        executor=executor,
        journal=Journal(out / JOURNAL_NAME),
        callbacks=BatchCallbacks(
            ready=lambda text: ready.append(time.time()),
            finished=lambda job, result: finished.append(time.time()),
        ),
    )
    totals = report.totals()
    report.close()
    return {
        "born": born,
        "ready": ready[0],
        "finished": sorted(finished),
        "done": totals["done"],
        "failed": totals["failed"],
    }


def measure(config: str, folder: Path, workdir: Path) -> dict:
    out = workdir / f"out-{config}"
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("RAY_ADDRESS", None)
    if CONFIGS[config]["omp"] is not None:
        env["OMP_NUM_THREADS"] = str(CONFIGS[config]["omp"])
    started = time.time()
    child = subprocess.Popen(
        [sys.executable, __file__, "--one", config, "--folder", str(folder), "--out", str(out)],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    memory = TreeMemory(child.pid)
    stdout, _ = child.communicate()
    peak = memory.stop()
    if child.returncode != 0:
        raise SystemExit(f"{config} failed (exit {child.returncode})")
    data = json.loads(stdout.strip().splitlines()[-1])
    count, times = data["done"], data["finished"]
    # Without start-up: the rate between the 10th and the 90th percentile of finish times
    # (no ramp-up while workers load their models, no tail while the last files finish).
    low, high = int(0.1 * (len(times) - 1)), int(0.9 * (len(times) - 1))
    steady = (high - low) / (times[high] - times[low])
    return {
        "config": config,
        "images": count,
        "wall": times[-1] - started,
        "start_up": data["ready"] - started,
        "with_start": count / (times[-1] - started),
        "steady": steady,
        "peak_mib": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", default="512x384", help="WIDTHxHEIGHT")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (best kept)")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.folder, args.out)))
        return
    width, height = (int(v) for v in args.size.lower().split("x"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-batch-"))
    folder = workdir / "in"
    if not folder.exists():
        make_folder(folder, args.images, (width, height))
    rows = []
    for config in args.configs.split(","):
        runs = [measure(config, folder, workdir) for _ in range(args.repeat)]
        rows.append(max(runs, key=lambda r: r["steady"]))
    print(
        f"\n{args.images} images of {width}x{height}, shipped default model, {os.cpu_count()} CPUs"
    )
    print(f"{'config':14} {'wall s':>7} {'start-up s':>10} {'img/s':>7} {'img/s steady':>12} "
          f"{'peak MiB':>9}")  # fmt: skip
    for row in rows:
        print(f"{row['config']:14} {row['wall']:7.1f} {row['start_up']:10.1f} "
              f"{row['with_start']:7.2f} {row['steady']:12.2f} {row['peak_mib']:9.0f}")  # fmt: skip
    by_name = {row["config"]: row for row in rows}
    if "ray-2x1" in by_name and "threads-2x1" in by_name:
        ray, threads = by_name["ray-2x1"], by_name["threads-2x1"]
        steady = ray["steady"] / threads["steady"]
        overall = ray["with_start"] / threads["with_start"]
        print(f"\nray / threads at equal cores: {steady:.3f} steady (overhead "
              f"{(1 - steady) * 100:+.1f} %, target <= 15 %), {overall:.3f} with start-up")  # fmt: skip
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
