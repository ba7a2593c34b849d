"""Benchmark the model presets: parameters, forward time and peak memory at the working size.

Each (preset, dtype) runs in a fresh process so its peak memory is its own. Weights are random
N(0, 0.02) (values do not change the cost); input is one random image at the preset's working
size; forward under ``torch.inference_mode()``. bf16 casts the whole model and input.
CPU memory is the process's peak RSS; CUDA memory is ``torch.cuda.max_memory_allocated``.
"cpu/thr" is the process CPU time of the best forward divided by the thread count: on a busy
shared machine it estimates the idle wall time (OpenMP spin-waiting inflates it a little).

Examples::

    python benchmarks/bench_model.py                          # small + tiny, fp32
    python benchmarks/bench_model.py -p small -d fp32 -d bf16 --repeats 5
    python benchmarks/bench_model.py -p depthpro -d fp32 -d bf16 --warmup 0 --repeats 1
    python benchmarks/bench_model.py -p small --shipped 1024   # + the shipped model end to end
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import resource
import time
from dataclasses import asdict, dataclass

import click
import torch
from rich.console import Console
from rich.table import Table

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class Result:
    """One benchmark row; times in seconds, memory in GiB."""

    preset: str
    dtype: str
    device: str
    size: int
    params: int
    first_s: float
    best_s: float
    cpu_per_thread_s: float
    encoder_s: float
    decoder_s: float
    head_s: float
    build_mem_gib: float
    peak_mem_gib: float


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    preset: str, dtype: str, device_name: str | None, warmup: int, repeats: int, threads: int
) -> Result:
    """Build ``preset`` and time ``warmup + repeats`` forwards (run in a child process)."""
    from model import create_model
    from model.head import apply_output_activation
    from model.inference import select_device

    if threads > 0:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    device = select_device(device_name)
    with torch.device("meta"):
        net = create_model(preset)
    net = net.to(DTYPES[dtype]).to_empty(device=device).eval()
    gen = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.02, generator=gen)
    size = net.config.working_size
    x = torch.randn(1, 3, size, size, generator=gen, device=device).to(DTYPES[dtype])
    _sync(device)
    build_mem = torch.cuda.memory_allocated(device) / 2**30 if device.type == "cuda" else _rss_gib()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: list[tuple[float, float, float]] = []
    cpu: list[float] = []
    with torch.inference_mode():
        for _ in range(warmup + repeats):
            c0 = _cpu_s()
            t0 = time.perf_counter()
            feats = net.encoder(x)
            _sync(device)
            t1 = time.perf_counter()
            dec = net.decoder(feats)
            _sync(device)
            t2 = time.perf_counter()
            apply_output_activation(net.head(dec), net.config.output_activation)
            _sync(device)
            t3 = time.perf_counter()
            times.append((t1 - t0, t2 - t1, t3 - t2))
            cpu.append(_cpu_s() - c0)
            del feats, dec
    totals = [sum(t) for t in times]
    timed = list(range(len(times)))[warmup:] or [0]
    best_i = min(timed, key=lambda i: sum(times[i]))
    best = times[best_i]
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else _rss_gib()
    return Result(
        preset=preset,
        dtype=dtype,
        device=str(device),
        size=size,
        params=sum(p.numel() for p in net.parameters()),
        first_s=totals[0],
        best_s=sum(best),
        cpu_per_thread_s=cpu[best_i] / torch.get_num_threads(),
        encoder_s=best[0],
        decoder_s=best[1],
        head_s=best[2],
        build_mem_gib=build_mem,
        peak_mem_gib=peak,
    )


def render(results: list[Result]) -> Table:
    """A rich table of the results."""
    table = Table(title="model forward benchmark (batch 1, working size)")
    cols = (
        "preset",
        "dtype",
        "device",
        "size",
        "params (M)",
        "first (s)",
        "best (s)",
        "cpu/thr (s)",
    )
    for col in cols:
        table.add_column(col, justify="right")
    for col in ("enc / dec / head (s)", "mem after build (GiB)", "peak mem (GiB)"):
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            r.preset,
            r.dtype,
            r.device,
            f"{r.size}²",
            f"{r.params / 1e6:.2f}",
            f"{r.first_s:.3f}",
            f"{r.best_s:.3f}",
            f"{r.cpu_per_thread_s:.3f}",
            f"{r.encoder_s:.3f} / {r.decoder_s:.3f} / {r.head_s:.3f}",
            f"{r.build_mem_gib:.2f}",
            f"{r.peak_mem_gib:.2f}",
        )
    return table


def measure_shipped(
    sizes: tuple[int, ...], device: str | None, repeats: int, threads: int
) -> list[tuple[str, int, float, float]]:
    """(runtime, size, first_s, best_s) of ``model.predict_index_map`` with the shipped default
    model on torch and on onnxruntime (CPU; ``threads`` also caps onnxruntime's)."""
    import model
    from model.onnx_runtime import OnnxLayerIndexModel

    if threads:
        torch.set_num_threads(threads)
    nets = {
        "torch": (model.load(runtime="torch"), device),
        "onnx": (OnnxLayerIndexModel(model.default_weights_dir() / "model.onnx", threads=threads),
                 None),
    }  # fmt: skip
    rows = []
    for size in sizes:
        image = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8).numpy()
        for runtime, (net, where) in nets.items():
            times = []
            for _ in range(1 + repeats):
                t0 = time.perf_counter()
                model.predict_index_map(net, image, device=where)
                times.append(time.perf_counter() - t0)
            rows.append((runtime, size, times[0], min(times[1:] or times)))
    return rows


def render_shipped(rows: list[tuple[str, int, float, float]]) -> Table:
    """Table of :func:`measure_shipped` rows."""
    table = Table(title="shipped default model, predict_index_map end to end")
    for column in ("runtime", "image", "first (s)", "best (s)"):
        table.add_column(column)
    for runtime, size, first, best in rows:
        table.add_row(runtime, f"{size}²", f"{first:.3f}", f"{best:.3f}")
    return table


@click.command()
@click.option(
    "-p",
    "--preset",
    "presets",
    multiple=True,
    default=("small", "tiny"),
    show_default=True,
    help="Preset(s) to measure (repeat the option): depthpro, small, tiny.",
)
@click.option(
    "-d",
    "--dtype",
    "dtypes",
    multiple=True,
    type=click.Choice(list(DTYPES)),
    default=("fp32",),
    show_default=True,
    help="Precision(s); bf16 casts model and input.",
)
@click.option("--device", default=None, help="cpu, cuda, mps; default: best available.")
@click.option("--warmup", default=1, show_default=True, help="Untimed forwards first.")
@click.option("--repeats", default=3, show_default=True, help="Timed forwards (best is kept).")
@click.option("--threads", default=0, help="torch intra-op threads; 0 = torch's default.")
@click.option(
    "--shipped",
    "shipped_sizes",
    multiple=True,
    type=int,
    help="Also time the shipped default model end to end on torch and onnxruntime "
    "(predict_index_map on a SIZE² RGB image: resize, pad, forward, resize back). Repeat for "
    "several sizes.",
)
def main(
    presets: tuple[str, ...],
    dtypes: tuple[str, ...],
    device: str | None,
    warmup: int,
    repeats: int,
    threads: int,
    shipped_sizes: tuple[int, ...],
) -> None:
    """Print parameters, forward time and peak memory per preset and dtype."""
    from model import list_presets

    unknown = sorted(set(presets) - set(list_presets()))
    if unknown:
        raise click.BadParameter(f"unknown preset(s): {', '.join(unknown)}", param_hint="preset")
    console = Console(width=200)
    load_before = os.getloadavg()
    results: list[Result] = []
    ctx = multiprocessing.get_context("spawn")
    for preset in presets:
        for dtype in dtypes:
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
                job = pool.submit(measure, preset, dtype, device, warmup, repeats, threads)
                result = job.result()
            console.print(asdict(result), width=200)
            results.append(result)
    console.print(render(results))
    if shipped_sizes:
        console.print(render_shipped(measure_shipped(shipped_sizes, device, repeats, threads)))
    console.print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f} "
        "(other processes on the machine slow CPU timings down)"
    )


if __name__ == "__main__":
    main()
