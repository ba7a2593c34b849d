"""Ground-truth throughput: files/s per source type at a given size (default 512²), one process.

Usage:
    .venv/bin/python benchmarks/bench_data.py [--sources datasets/sources] [--n 20] [--size 512]

Per approved source found under --sources (noto-emoji, twemoji, openmoji, fluent-flat, openclipart,
streamline-emojis, flat-color-icons, fxemoji, open-peeps; fetch them with `decompose-train
fetch-sources`), it labels the same evenly spaced sample of --n files of the build's selection
(`training.sources.select_files`: variant caps, clip-art sampling) with the isolation method and
with `auto` (recolour where exact), then the PSD fixtures and synthetic scenes. Where no sources
are fetched it falls back to the hand-written fixtures in tests/data.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

from training.psd_labels import label_psd
from training.sources import APPROVED, select_files
from training.svg_clean import SvgError
from training.svg_labels import LabelConfig, label_svg
from training.synthetic import SyntheticConfig, synthetic_sample

ROOT = Path(__file__).resolve().parents[1]


def sample(files: list[Path], n: int) -> list[Path]:
    """n evenly spaced files (deterministic)."""
    if len(files) <= n:
        return files
    step = len(files) / n
    return [files[int(i * step)] for i in range(n)]


def rate(items: list, fn: Callable[[object], object]) -> tuple[float, float, float]:
    """(files/s wall, ms/file wall, ms/file of this process's CPU time) of fn over items.

    On a shared machine the CPU time is the stable number; wall time includes waiting for cores.
    """
    start, cpu = time.perf_counter(), time.process_time()
    for item in items:
        fn(item)
    elapsed, cpu_used = time.perf_counter() - start, time.process_time() - cpu
    return len(items) / elapsed, 1000 * elapsed / len(items), 1000 * cpu_used / len(items)


def _label(path: Path, config: LabelConfig) -> str:
    """Label one file; returns the method used ("error" for files the labeller rejects)."""
    try:
        return label_svg(path, config).method
    except SvgError:
        return "error"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, default=ROOT / "datasets" / "sources")
    parser.add_argument("--max-pieces", type=int, default=1500, help="as build-dataset's")
    parser.add_argument("--n", type=int, default=20, help="files per source")
    parser.add_argument("--size", type=int, default=512, help="output side (px)")
    args = parser.parse_args()

    iso = LabelConfig(size=args.size, max_pieces=args.max_pieces)
    auto = LabelConfig(size=args.size, method="auto", max_pieces=args.max_pieces)
    groups: dict[str, list[Path]] = {}
    for name in APPROVED:
        folder = args.sources / name / "svg"
        if folder.is_dir():
            chosen = select_files(name, folder.glob("*.svg")).files
            groups[name] = sample(list(chosen), args.n)
    if not groups:
        groups["fixtures (tests/data)"] = sorted((ROOT / "tests/data/svg_labels").glob("*.svg"))
    print(f"ground truth at {args.size}x{args.size}, 1 process (rows print as they finish)")
    print(f"{'source':<24}{'method':<24}{'files':>6}{'files/s':>10}{'ms/file':>10}{'cpu ms':>9}")

    def row(name: str, method: str, count: int, fps: float, ms: float, cpu_ms: float) -> None:
        line = f"{name:<24}{method:<24}{count:>6}{fps:>10.2f}{ms:>10.1f}{cpu_ms:>9.1f}"
        print(line, flush=True)

    for name, files in groups.items():
        row(name, "isolation", len(files), *rate(files, lambda f: _label(f, iso)))
        used: list[str] = []
        timing = rate(files, lambda f, used=used: used.append(_label(f, auto)))
        share = used.count("recolour") / max(1, len(used))
        row(name, f"auto ({share:.0%} recolour)", len(files), *timing)
    psds = sorted((ROOT / "tests/data/psd_labels").glob("*.psd"))
    row("psd fixtures", "psd-tools", len(psds), *rate(psds, lambda p: label_psd(p, args.size)))
    synth = SyntheticConfig(size=args.size)
    seeds = list(range(args.n * 2))
    row("synthetic", "procedural", len(seeds), *rate(seeds, lambda s: synthetic_sample(s, synth)))


if __name__ == "__main__":
    main()
