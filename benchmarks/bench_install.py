"""Benchmark the install: virtual-environment size and cold `decompose` time, light vs torch.

Builds (or reuses) two virtual environments from this checkout:

- light: ``pip install .`` (runtime dependencies only; the shipped model runs on onnxruntime);
- torch: ``pip install ".[torch]"`` (adds PyTorch, torchvision, timm; the model runs on torch).

Then times ``decompose examples/house.png -o house.psd`` as a whole fresh process (interpreter
start, imports, model load, prediction, regions, completion, PSD write): ``--runs`` counted runs
per install after one warm-up each, alternating light and torch so machine drift hits both.
Wall and CPU seconds and peak RSS come from the operating system's accounting of each child
(``os.wait4``). Every run writes a new file; finally the layers written by both installs are
compared pixel for pixel. Targets (issue 12): light ≤ 1.5 s wall, light venv ≤ 500 MB.
On a busy shared machine quote the medians and the CPU seconds (wall ≈ CPU when idle).

Examples::

    python benchmarks/bench_install.py --workdir /work/data/bench-install
    python benchmarks/bench_install.py --workdir /tmp/b --torch-venv .venv --runs 9
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "house.png"
TORCH_MODULES = ("torch", "torchvision", "timm")


@dataclass(frozen=True)
class Run:
    """One timed process: wall and CPU (user + system) seconds, peak RSS in MB."""

    wall_s: float
    cpu_s: float
    peak_mb: float


def venv_size_mb(folder: Path) -> float:
    """Disk usage of a folder in MB (allocated blocks, hard links counted once), like du."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            stat = os.lstat(os.path.join(root, name))
            key = (stat.st_dev, stat.st_ino)
            if key not in seen:
                seen.add(key)
                total += stat.st_blocks * 512
    return total / 1e6


def _clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH, so a venv runs its installed package only."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def make_venv(folder: Path, extras: str, console: Console) -> Path:
    """Create ``folder`` (python3.11 -m venv) and ``pip install .[extras]`` into it."""
    target = f"{ROOT}[{extras}]" if extras else str(ROOT)
    console.print(f"creating {folder} (pip install {target}) ...")
    started = time.perf_counter()
    subprocess.run(["python3.11", "-m", "venv", str(folder)], check=True)
    subprocess.run(
        [str(folder / "bin" / "pip"), "install", "-q", target], check=True, env=_clean_env()
    )
    console.print(f"  done in {time.perf_counter() - started:.0f} s")
    return folder


def has_torch(venv: Path) -> bool:
    """Whether torch, torchvision or timm can be found in the venv."""
    code = (
        "import importlib.util as u, sys; "
        f"sys.exit(0 if any(u.find_spec(m) for m in {TORCH_MODULES!r}) else 1)"
    )
    result = subprocess.run([str(venv / "bin" / "python"), "-c", code], env=_clean_env())
    return result.returncode == 0


def time_decompose(venv: Path, output: Path, cwd: Path) -> Run:
    """Run ``decompose examples/house.png -o OUTPUT`` in ``venv`` once; fails loudly."""
    command = [str(venv / "bin" / "decompose"), str(EXAMPLE), "-o", str(output)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=_clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    stderr = process.stderr.read().decode() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise click.ClickException(f"{' '.join(command)} failed: {stderr.strip()}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def compare_psds(a: Path, b: Path) -> tuple[bool, str]:
    """(visible layers pixel-identical, a note on the hidden extra layers) of two written PSDs.

    The hidden "Layer index map" extra is an 8-bit rendering of the float index map, which
    differs between the runtimes by float rounding (~1e-7); a pixel on a rounding boundary
    may flip by one grey level there, while the decomposition itself is identical."""
    sys.path.insert(0, str(ROOT))
    from decomposer.verify import read_layers

    x, y = read_layers(a), read_layers(b)
    if x.visible != y.visible or len(x.layers) != len(y.layers):
        return False, "different layer lists"
    pairs = list(zip(x.layers, y.layers, strict=True))
    visible = [pq for pq, shown in zip(pairs, x.visible, strict=True) if shown]
    same = all(p.offset == q.offset and np.array_equal(p.rgba, q.rgba) for p, q in visible)
    notes = []
    for (p, q), shown in zip(pairs, x.visible, strict=True):
        if not shown and p.rgba.shape == q.rgba.shape:
            diff = np.abs(p.rgba.astype(int) - q.rgba.astype(int))
            notes.append(f"{p.name}: {int(diff.any(-1).sum())} px differ, max {int(diff.max())}")
    return same, "; ".join(notes)


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(tempfile.gettempdir()) / "bench-install",
    show_default=True,
    help="Where the venvs are built (reused when they exist).",
)
@click.option(
    "--light-venv",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Use this light venv instead of WORKDIR/light.",
)
@click.option(
    "--torch-venv",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Use this torch venv (e.g. the dev .venv) instead of WORKDIR/torch.",
)
@click.option("--runs", type=click.IntRange(1, 50), default=5, show_default=True)
def main(workdir: Path, light_venv: Path | None, torch_venv: Path | None, runs: int) -> None:
    """Venv size and cold `decompose` wall time: light install vs torch install."""
    console = Console()
    workdir.mkdir(parents=True, exist_ok=True)
    venvs: dict[str, Path] = {}
    for name, given, extras in (("light", light_venv, ""), ("torch", torch_venv, "torch")):
        folder = (given or workdir / name).absolute()  # runs happen in another folder
        if not (folder / "bin" / "decompose").exists():
            if given:
                raise click.ClickException(f"{folder}: no bin/decompose in this venv")
            make_venv(folder, extras, console)
        venvs[name] = folder
    if has_torch(venvs["light"]):
        raise click.ClickException(f"{venvs['light']}: the light venv has torch installed")
    if not has_torch(venvs["torch"]):
        raise click.ClickException(f"{venvs['torch']}: the torch venv has no torch")

    results: dict[str, list[Run]] = {name: [] for name in venvs}
    outputs: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="bench-install-") as scratch:
        cwd = Path(scratch)
        for round_ in range(runs + 1):  # round 0 is the warm-up
            for name, venv in venvs.items():
                out = cwd / f"house_{name}_{round_}.psd"
                run = time_decompose(venv, out, cwd)
                outputs[name] = out
                if round_:
                    results[name].append(run)
        identical, extras_note = compare_psds(outputs["light"], outputs["torch"])

    console = Console(width=max(console.width, 110))
    table = Table(title=f"decompose examples/house.png -o house.psd: {runs} cold processes each")
    for column in ("install", "runtime", "venv MB", "wall median s", "wall min–max s",
                   "CPU median s", "peak RSS MB"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("install", "runtime") else "right")
    for name, venv in venvs.items():
        walls = [r.wall_s for r in results[name]]
        table.add_row(
            name,
            "onnxruntime" if name == "light" else "torch",
            f"{venv_size_mb(venv):.0f}",
            f"{statistics.median(walls):.2f}",
            f"{min(walls):.2f}–{max(walls):.2f}",
            f"{statistics.median(r.cpu_s for r in results[name]):.2f}",
            f"{statistics.median(r.peak_mb for r in results[name]):.0f}",
        )
    console.print(table)
    for name, venv in venvs.items():
        console.print(f"{name}: {venv}")
    console.print(f"visible layers from both installs pixel-identical: {identical}")
    console.print(f"hidden extras (8-bit renderings of the float index map): {extras_note}")
    console.print("targets: light wall ≤ 1.5 s, light venv ≤ 500 MB")


if __name__ == "__main__":
    main()
