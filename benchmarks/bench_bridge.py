"""Bridge overhead and throughput: `decompose()` called directly vs through `decompose-bridge`.

Starts a real `decompose-bridge` process on a free 127.0.0.1 port (temp token file), then:

1. direct: `decomposer.decompose("art.png", layers=N, model=m)` (the same PNG file the bridge gets,
   so decoding is on both sides) in this process, from the main thread
   and from a worker thread like the bridge's (the overhead baseline);
2. latency: one client, one job at a time — submit, follow the SSE events to `finished`
   ("to finished"), then fetch the manifest and every layer PNG ("to layers"); overhead = bridge
   median - direct median;
3. throughput: 1, 4 and 16 concurrent clients (threads, stdlib client), each running
   --jobs-per-client full round trips (submit, events, manifest, layer PNGs); jobs/s and the
   median/max client-side latency.

The server uses one worker, so throughput is bounded by the model; the interesting numbers are the
per-job overhead and that latency grows with queue depth while nothing is lost.

    python benchmarks/bench_bridge.py                     # tiny model, 256x256, 1/4/16 clients
    python benchmarks/bench_bridge.py --model small --size 512 --clients 1 4
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from plugin_bridge.client import BridgeClient


def illustration(size: int, seed: int) -> bytes:
    """PNG bytes of a flat illustration: background plus 12 overlapping shapes."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(150, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = (int(v) for v in rng.integers(0, size * 3 // 4, 2))
        x1, y1 = (
            x0 + int(rng.integers(size // 8, size // 2)),
            y0 + int(rng.integers(size // 8, size // 2)),
        )
        colour = tuple(int(v) for v in rng.integers(0, 200, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bridge_command(model: str, port: int, token_file: Path, *extra: str) -> list[str]:
    """argv of a `decompose-bridge` subprocess on 127.0.0.1:port, on the CPU."""
    return [
        sys.executable, "-m", "plugin_bridge.cli", "--model", model, "--device", "cpu",
        "--port", str(port), "--token-file", str(token_file), *extra,
    ]  # fmt: skip


def start_bridge(model: str, token_file: Path) -> tuple[subprocess.Popen, str]:
    """Run decompose-bridge in a subprocess; returns (process, url) once /v1/health is ready."""
    port = free_port()
    process = subprocess.Popen(
        bridge_command(model, port, token_file),
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise SystemExit(f"decompose-bridge exited: {process.communicate()[1].strip()}")
        try:
            with opener.open(f"{url}/v1/health", timeout=2):
                return process, url
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("decompose-bridge did not start within 120 s") from None
            time.sleep(0.2)


def round_trip(client: BridgeClient, png: bytes, layers: int) -> tuple[float, float]:
    """One plugin-style job: (seconds to `finished`, seconds until every layer PNG is fetched)."""
    start = time.perf_counter()
    job = client.submit(png, layers=layers)
    status = client.wait(job.id, timeout_s=600)
    if status["state"] != "finished":
        raise RuntimeError(f"job {job.id} ended {status['state']}: {status['error']}")
    finished = time.perf_counter() - start
    manifest = client.result(job.id)
    for entry in manifest["layers"]:
        client.layer_png(job.id, entry["i"])
    return finished, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="random:tiny", help="model spec (default random:tiny, untrained)"
    )
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=10, help="sequential jobs for latency")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--jobs-per-client", type=int, default=2)
    args = parser.parse_args()

    import decomposer

    count = max(args.clients) * args.jobs_per_client
    images = [illustration(args.size, seed) for seed in range(count)]
    model = decomposer.load_model(args.model)
    scratch = tempfile.TemporaryDirectory()
    source = Path(scratch.name) / "art.png"
    source.write_bytes(images[0])

    def direct_once() -> float:
        """decompose() on the same PNG file the bridge receives (decoding included)."""
        start = time.perf_counter()
        decomposer.decompose(source, layers=args.layers, model=model, device="cpu")
        return time.perf_counter() - start

    # The bridge runs the model in a worker thread; torch's CPU threading behaves differently
    # there than in the main thread (much less OpenMP spinning on a busy machine), so the
    # overhead baseline is a direct call made from a worker thread too.
    worker = ThreadPoolExecutor(max_workers=1)

    def direct_in_worker() -> float:
        return worker.submit(direct_once).result()

    with tempfile.TemporaryDirectory() as folder:
        process, url = start_bridge(args.model, Path(folder) / "token")
        try:
            token = (Path(folder) / "token").read_text().strip()
            client = BridgeClient(url, token=token)
            direct_once()  # warm-up every path
            direct_in_worker()
            round_trip(client, images[0], args.layers)
            # interleaved, so load from other processes on a shared machine hits all alike
            direct_main, direct, latency = [], [], []
            for _ in range(args.repeats):
                direct_main.append(direct_once())
                direct.append(direct_in_worker())
                latency.append(round_trip(client, images[0], args.layers))
            throughput = []
            for clients in args.clients:

                def one_client(i: int) -> list[tuple[float, float]]:
                    own = BridgeClient(url, token=token)
                    return [
                        round_trip(own, images[i * args.jobs_per_client + k], args.layers)
                        for k in range(args.jobs_per_client)
                    ]

                start = time.perf_counter()
                with ThreadPoolExecutor(max_workers=clients) as pool:
                    results = [r for rs in pool.map(one_client, range(clients)) for r in rs]
                wall = time.perf_counter() - start
                totals = [r[1] for r in results]
                throughput.append(
                    (clients, len(results), wall, statistics.median(totals), max(totals))
                )
        finally:
            process.terminate()
            process.communicate(timeout=30)

    worker.shutdown()
    scratch.cleanup()
    rows = [
        ("decompose() direct, main thread", direct_main),
        ("decompose() direct, worker thread", direct),
        ("bridge: submit -> finished event", [r[0] for r in latency]),
        ("bridge: + manifest + layer PNGs", [r[1] for r in latency]),
    ]
    base_min, base_median = min(direct) * 1000, statistics.median(direct) * 1000
    print(
        f"model {args.model}, image {args.size}x{args.size}, layers {args.layers}, "
        f"{os.cpu_count()} CPUs, {args.repeats} interleaved repeats"
    )
    print(f"{'path':<36}{'min ms':>9}{'median ms':>11}{'overhead (min) ms':>19}")
    for name, values in rows:
        low, mid = min(values) * 1000, statistics.median(values) * 1000
        overhead = "" if name.startswith("decompose") else f"{low - base_min:.1f}"
        print(f"{name:<36}{low:>9.1f}{mid:>11.1f}{overhead:>19}")
    print(
        f"(median overhead: {statistics.median(r[1] for r in latency) * 1000 - base_median:.1f} ms)"
    )
    print()
    print(f"{'clients':>8}{'jobs':>6}{'wall s':>9}{'jobs/s':>9}{'median s':>10}{'max s':>8}")
    for clients, jobs, wall, median, worst in throughput:
        print(f"{clients:>8}{jobs:>6}{wall:>9.2f}{jobs / wall:>9.2f}{median:>10.2f}{worst:>8.2f}")


if __name__ == "__main__":
    main()
