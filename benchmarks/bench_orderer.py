"""Speed of the default pipeline (graph ordering) and of fitting the orderer.

1. Full `decompose` of 1024² illustrations with the models loaded (the orderer is read once
   before timing; the network is not needed by the default ordering): load the PNG, regions,
   region graph + features + orderer, grouping, completion, PSD writing. Images: the synthetic
   illustration of bench_decompose.py (60 anti-aliased shapes) and the bundled validation
   images upscaled to 1024² (bilinear), which have the region statistics of real flat art.
   Target (issue 9): <= 1.0 s per image on this CPU.
2. With --fit-data DIR [...]: `decompose-train fit-orderer` on those datasets from an empty
   feature cache (extraction + training; its own timing). Target: <= 15 min on 2 cores.

    python benchmarks/bench_orderer.py
    python benchmarks/bench_orderer.py --size 1024 --layers 6 --repeat 3
    python benchmarks/bench_orderer.py --fit-data /work/data/parts512 --workers 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "tests" / "data" / "validation" / "rgb"
sys.path.insert(0, str(ROOT / "benchmarks"))


def _images(size: int, folder: Path) -> list[Path]:
    from bench_decompose import synthetic_illustration

    paths = []
    rgba, _ = synthetic_illustration(size)
    path = folder / "synthetic.png"
    Image.fromarray(rgba).save(path)
    paths.append(path)
    for src in sorted(VALIDATION.glob("*.png")):
        with Image.open(src) as im:
            big = im.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        path = folder / src.name
        big.save(path)
        paths.append(path)
    return paths


def bench_decompose(size: int, layers: int, repeat: int) -> None:
    from decomposer import decompose
    from decomposer.orderer import load_orderer
    from decomposer.writers import write_psd

    load_orderer()  # "with the models loaded"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for path in _images(size, folder):
            best = None
            for _ in range(repeat):
                clock = time.perf_counter()
                dec = decompose(path, layers=layers)
                t_dec = time.perf_counter() - clock
                clock = time.perf_counter()
                write_psd(dec, folder / "out.psd")
                t_psd = time.perf_counter() - clock
                total = t_dec + t_psd
                if best is None or total < best[0]:
                    best = (total, t_dec, t_psd, dec)
            total, t_dec, t_psd, dec = best
            t = dec.info["timings"]
            rows.append((path.name[:40], dec.info["regions"], t, t_dec, t_psd, total))
    print(f"full decompose at {size}x{size}, {layers} layers (best of {repeat})")
    head = f"{'image':40} {'regions':>7} {'load':>6} {'regions':>7} {'order':>6} {'group':>6} "
    head += f"{'complete':>8} {'decompose':>9} {'psd':>6} {'total_s':>7}"
    print(head)
    for name, n, t, t_dec, t_psd, total in rows:
        print(
            f"{name:40} {n:7d} {t.get('load', 0):6.3f} {t['regions']:7.3f} {t['order']:6.3f} "
            f"{t['group']:6.3f} {t['complete']:8.3f} {t_dec:9.3f} {t_psd:6.3f} {total:7.3f}"
        )
    totals = np.array([r[-1] for r in rows])
    print(f"mean {totals.mean():.3f} s, max {totals.max():.3f} s per image (target <= 1.0 s)")


def bench_fit(data: list[str], workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "training.cli", "fit-orderer", "--out", f"{tmp}/orderer",
               "--cache", f"{tmp}/cache", "--workers", str(workers)]  # fmt: skip
        for d in data:
            cmd += ["--data", d]
        clock = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        seconds = time.perf_counter() - clock
        if done.returncode != 0:
            raise SystemExit(done.stderr)
        print(done.stderr.strip().splitlines()[-1])
        print(f"fit-orderer from an empty cache: {seconds:.1f} s (target <= 900 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--fit-data", nargs="*", default=None)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    bench_decompose(args.size, args.layers, args.repeat)
    if args.fit_data:
        bench_fit(args.fit_data, args.workers)


if __name__ == "__main__":
    main()
