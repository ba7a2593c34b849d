"""Layered SVG export speed: trace every layer's flat-colour parts and write the file.

On the synthetic illustration of `bench_decompose.py` (60 anti-aliased shapes on 8 depth levels)
the decomposition is computed first (not timed); then `write_svg` is timed (best of `--repeat`:
wall clock, and the process CPU time, which is what the wall time would be on an idle machine:
the work is single-threaded), with and without the embedded original image, and the rendering's
SSIM against the input is reported.

Target (issue 10): SVG export of a 1024² image with 8 layers <= 2 s.

    python benchmarks/bench_svg.py                      # 1024², 8 layers
    python benchmarks/bench_svg.py --sizes 1024 2048
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decompose import synthetic_illustration  # noqa: E402


def main() -> None:
    from decomposer.pipeline import decompose_pixels
    from decomposer.writers.svg import read_svg_text, rendered_similarity, write_svg

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(
        f"{'size':>6} {'layers':>6} {'paths':>6} {'extras':>6} {'svg_s':>6} {'cpu_s':>6} "
        f"{'KiB':>7} {'ssim':>7}"
    )
    for size in args.sizes:
        rgba, index = synthetic_illustration(size)
        dec = decompose_pixels(rgba, index, layers=args.layers)
        with tempfile.TemporaryDirectory() as folder:
            for extras in (False, True):
                path = Path(folder) / f"bench{int(extras)}.svg"
                best = cpu = float("inf")
                for _ in range(args.repeat):
                    start, cpu_start = time.perf_counter(), time.process_time()
                    write_svg(dec, path, extras=extras)
                    best = min(best, time.perf_counter() - start)
                    cpu = min(cpu, time.process_time() - cpu_start)
                text = read_svg_text(path)
                ssim = rendered_similarity(text, rgba)
                print(
                    f"{size:>6} {len(dec.layers):>6} {text.count('<path'):>6} {str(extras):>6} "
                    f"{best:6.2f} {cpu:6.2f} {path.stat().st_size / 1024:7.0f} {ssim:7.4f}"
                )


if __name__ == "__main__":
    main()
