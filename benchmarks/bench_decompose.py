"""Post-processing + PSD writing speed and memory on synthetic illustrations (no network).

For each size (default 1024², 2048², 4096²) a synthetic illustration with anti-aliased shapes on
8 depth levels and a matching noisy index map is generated (not timed); then the decomposition
stages (regions, order, group, complete), the exact recomposition check and `write_psd` are
timed (wall clock, plus the process CPU time of post-processing + PSD, which is what the
wall time would be on an idle machine: the work is single-threaded), and the peak traced memory (tracemalloc: numpy buffers and Python objects) and the
process's peak RSS are reported. Each size runs in a fresh subprocess so peaks are per size.

Targets (issue 3, 2-core machine): post-processing + PSD writing <= 1.5 s at 2048²,
<= 6 s and <= 2 GiB peak at 4096².

    python benchmarks/bench_decompose.py                 # 1024 2048 4096
    python benchmarks/bench_decompose.py --sizes 2048 --layers 8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

DEPTH_LEVELS = 8


def synthetic_illustration(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(rgba uint8 (size, size, 4), index map float32 (size, size)): 60 anti-aliased shapes.

    Shapes are discs and rounded boxes on DEPTH_LEVELS depth levels over a two-colour background;
    edges are anti-aliased by analytic coverage; the index map is level + gradient + noise.
    """
    rng = np.random.default_rng(seed)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[: size // 2] = rng.integers(0, 256, 3)
    rgb[size // 2 :] = rng.integers(0, 256, 3)
    index = np.zeros((size, size), np.float32)
    for k in range(60):
        level = 1 + k % DEPTH_LEVELS
        radius = rng.uniform(0.03, 0.14) * size
        cy, cx = rng.uniform(0.1, 0.9, 2) * size
        y0, y1 = int(max(0, cy - radius - 2)), int(min(size, cy + radius + 3))
        x0, x1 = int(max(0, cx - radius - 2)), int(min(size, cx + radius + 3))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        if k % 2:
            dist = np.hypot(yy - cy, xx - cx) - radius
        else:
            qy = np.abs(yy - cy) - 0.7 * radius
            qx = np.abs(xx - cx) - 0.7 * radius
            dist = np.hypot(np.maximum(qy, 0), np.maximum(qx, 0)) - 0.3 * radius
        cover = np.clip(0.5 - dist, 0.0, 1.0)[..., None]
        colour = rng.integers(0, 256, 3).astype(np.float32)
        region = rgb[y0:y1, x0:x1]
        region[:] = colour * cover + region * (1 - cover)
        inside = cover[..., 0] > 0.5
        index[y0:y1, x0:x1][inside] = level
    ramp = np.linspace(0, 0.3, size, dtype=np.float32)
    index += ramp[None, :] + rng.normal(0, 0.05, (size, size)).astype(np.float32)
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = np.rint(rgb).astype(np.uint8)
    rgba[..., 3] = 255
    return rgba, index


def measure(size: int, layers: int) -> dict:
    """Time every stage at one size; returns a dict of seconds and bytes."""
    from decomposer.pipeline import decompose_pixels

    try:
        from decomposer.writers.psd import write_psd
    except ImportError:  # writers not installed: time the post-processing only
        write_psd = None
    rgba, index = synthetic_illustration(size)
    tracemalloc.start()
    tracemalloc.reset_peak()
    start, cpu_start = time.perf_counter(), time.process_time()
    dec = decompose_pixels(rgba, index, layers=layers)
    post = time.perf_counter() - start
    psd_s = None
    if write_psd is not None:
        with tempfile.TemporaryDirectory() as folder:
            clock = time.perf_counter()
            write_psd(dec, Path(folder) / "bench.psd")
            psd_s = time.perf_counter() - clock
    cpu = time.process_time() - cpu_start
    _, peak_traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    clock = time.perf_counter()
    exact = bool((dec.composite() == rgba).all())
    verify_s = time.perf_counter() - clock
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "size": size,
        "layers": len(dec.layers),
        "n_regions": dec.info["regions"],
        **{k: dec.info["timings"][k] for k in ("regions", "order", "group", "complete")},
        "post": post,
        "psd": psd_s,
        "total": post + (psd_s or 0.0),
        "cpu": cpu,
        "verify": verify_s,
        "exact": exact,
        "peak_traced": peak_traced,
        "peak_rss": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.layers)))
        return
    rows = []
    for size in args.sizes:
        cmd = [sys.executable, __file__, "--one", str(size), "--layers", str(args.layers)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    head = (
        f"{'size':>6} {'layers':>6} {'regions':>7} {'regions_s':>9} {'order_s':>7} {'group_s':>7} "
        f"{'complete_s':>10} {'post_s':>6} {'psd_s':>6} {'total_s':>7} {'cpu_s':>6} {'verify_s':>8} "
        f"{'exact':>5} {'traced_MiB':>10} {'rss_MiB':>7}"
    )
    print(head)
    for r in rows:
        psd = f"{r['psd']:6.2f}" if r["psd"] is not None else "   n/a"
        print(
            f"{r['size']:>6} {r['layers']:>6} {r['n_regions']:>7} {r['regions']:9.2f} "
            f"{r['order']:7.2f} {r['group']:7.2f} {r['complete']:10.2f} {r['post']:6.2f} {psd} "
            f"{r['total']:7.2f} {r['cpu']:6.2f} {r['verify']:8.2f} {str(r['exact']):>5} "
            f"{r['peak_traced'] / 2**20:10.0f} {r['peak_rss'] / 2**20:7.0f}"
        )


if __name__ == "__main__":
    main()
