"""Completion speed per mode: "regions" (the default) against "nearest", "harmonic" and "none".

On the synthetic illustration of `bench_decompose.py` (anti-aliased shapes on 8 depth levels,
not timed) the decomposition runs once per mode and the "complete" stage is timed (wall clock;
it includes the regions' flat colours). Best of `--repeat` runs. A mode is a completion mode, or
"regions:CONTINUATION" for completion "regions" with another continuation ("regions" alone is
the default, continuation "harmonic").

Target (issue 10): "regions" <= 1.5x the time of "nearest" at 2048².

    python benchmarks/bench_completion.py                    # 2048², 8 layers
    python benchmarks/bench_completion.py --sizes 1024 2048 --modes regions regions:closest nearest
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decompose import synthetic_illustration  # noqa: E402


def time_mode(rgba, index, mode: str, layers: int, repeat: int) -> float:
    """Best "complete" stage time (s) of `repeat` decompositions with completion `mode`
    ("MODE" or "regions:CONTINUATION")."""
    from decomposer.pipeline import decompose_pixels

    completion, _, continuation = mode.partition(":")
    extra = {"continuation": continuation} if continuation else {}
    best = float("inf")
    for _ in range(repeat):
        dec = decompose_pixels(rgba, index, layers=layers, completion=completion, **extra)
        best = min(best, dec.info["timings"]["complete"])
        assert (dec.composite() == rgba).all(), f"{mode}: not exact"
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048])
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument(
        "--modes", nargs="+", default=["regions", "regions:closest", "nearest", "harmonic", "none"]
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'size':>6} {'mode':>16} {'complete_s':>10} {'vs_nearest':>10}")
    for size in args.sizes:
        rgba, index = synthetic_illustration(size)
        times = {m: time_mode(rgba, index, m, args.layers, args.repeat) for m in args.modes}
        for mode, seconds in times.items():
            ratio = f"{seconds / times['nearest']:10.2f}" if "nearest" in times else "       n/a"
            print(f"{size:>6} {mode:>16} {seconds:10.3f} {ratio}")


if __name__ == "__main__":
    main()
