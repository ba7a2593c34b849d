"""Server memory under concurrent big uploads: RSS of a real `decompose-bridge` process.

Starts `decompose-bridge` (tiny model) in a subprocess on a free 127.0.0.1 port, samples its
resident memory (/proc/PID/status VmRSS, every 20 ms) and sends N uploads of SIZE MB at once from
N threads, streaming each from a file. Two payloads:

- `junk`: a PNG signature followed by random bytes (refused `400 bad_image` once fully received):
  what it costs the server to *receive* the bodies;
- `png`: a real flat-colour PNG stored without compression (about SIZE MB, ~67 M pixels at 200):
  reception plus upload validation (decoding); each accepted job is cancelled at once so the model
  does not run.

Prints, per payload: RSS before, peak while the uploads were in flight, and after, in MiB, plus
the replies. `--server-path DIR` runs the server from another checkout (PYTHONPATH=DIR), e.g. the
main branch, to compare before/after on the same machine:

    python benchmarks/bench_bridge_memory.py                         # 6 x 200 MB, this checkout
    python benchmarks/bench_bridge_memory.py --server-path ../main    # the same against main
    python benchmarks/bench_bridge_memory.py --uploads 2 --size-mb 50 --kinds junk
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bridge import bridge_command, free_port  # noqa: E402

MIB = 1024 * 1024
ROOT = Path(__file__).resolve().parents[1]


def rss_mib(pid: int) -> float:
    """Resident memory of process `pid` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class Sampler:
    """Samples a process's RSS every `interval_s` in a thread; `peak` is the largest seen."""

    def __init__(self, pid: int, interval_s: float = 0.02) -> None:
        self.pid, self.interval_s = pid, interval_s
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mib(self.pid))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_payloads(folder: Path, size_mb: float, kinds: list[str]) -> dict[str, Path]:
    """Write the payload files (streamed from disk by the senders, so the client's own memory
    does not matter)."""
    size = int(size_mb * 1e6)
    paths = {}
    if "junk" in kinds:
        path = folder / "junk.bin"
        with path.open("wb") as fh:
            fh.write(b"\x89PNG\r\n\x1a\n")
            left = size - 8
            while left > 0:
                block = os.urandom(min(left, 16 * MIB))
                fh.write(block)
                left -= len(block)
        paths["junk"] = path
    if "png" in kinds:
        from PIL import Image, ImageDraw

        side = int((size / 3) ** 0.5)
        image = Image.new("RGB", (side, side), (215, 225, 240))
        ImageDraw.Draw(image).ellipse((side // 5, side // 5, side // 2, side // 2), (200, 30, 30))
        path = folder / "stored.png"
        image.save(path, "PNG", compress_level=0)
        del image
        paths["png"] = path
    return paths


def start_bridge(folder: Path, server_path: str | None) -> tuple[subprocess.Popen, int, str]:
    port = free_port()
    token_file = folder / "token"
    env = {**os.environ, "TMPDIR": str(folder)}
    checkout = Path(server_path).resolve() if server_path else ROOT
    env["PYTHONPATH"] = str(checkout)  # `python -m` also puts the working folder first: set both
    process = subprocess.Popen(
        bridge_command("random:tiny", port, token_file, "--max-body-mb", "512"),
        env=env,
        cwd=checkout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise SystemExit(f"decompose-bridge exited: {process.communicate()[1].strip()}")
        try:
            with opener.open(f"http://127.0.0.1:{port}/v1/health", timeout=2):
                break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit("decompose-bridge did not start") from None
            time.sleep(0.2)
    return process, port, token_file.read_text().strip()


def upload(port: int, token: str, path: Path) -> tuple[int, dict]:
    """POST the file at `path`, streamed; returns (status, JSON reply); cancels an accepted job."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    headers = {"Authorization": f"Bearer {token}", "Content-Length": str(path.stat().st_size)}
    try:
        with path.open("rb") as fh:
            conn.request("POST", "/v1/jobs?layers=2", body=fh, headers=headers)
        response = conn.getresponse()
        reply = json.loads(response.read() or b"{}")
        if response.status in (200, 202):
            conn.request(
                "DELETE", f"/v1/jobs/{reply['id']}", headers={"Authorization": f"Bearer {token}"}
            )
            conn.getresponse().read()
        return response.status, reply
    finally:
        conn.close()


def measure(kind: str, payload: Path, uploads: int, server_path: str | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-bridge-") as folder:
        process, port, token = start_bridge(Path(folder), server_path)
        try:
            time.sleep(1.0)
            before = rss_mib(process.pid)
            started = time.perf_counter()
            with Sampler(process.pid) as sampler, ThreadPoolExecutor(uploads) as pool:
                replies = list(pool.map(lambda _: upload(port, token, payload), range(uploads)))
            wall = time.perf_counter() - started
            time.sleep(1.0)
            after = rss_mib(process.pid)
        finally:
            process.terminate()
            process.communicate(timeout=60)
    codes = sorted(
        {f"{status} {reply.get('code', reply.get('state', ''))}" for status, reply in replies}
    )
    return {
        "kind": kind,
        "before": before,
        "peak": sampler.peak,
        "after": after,
        "wall": wall,
        "replies": codes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=6, help="concurrent uploads (default 6)")
    parser.add_argument("--size-mb", type=float, default=200.0, help="size of each upload in MB")
    parser.add_argument("--kinds", nargs="+", default=["junk", "png"], choices=["junk", "png"])
    parser.add_argument("--server-path", default=None, help="run the server from this checkout")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-payloads-") as scratch:
        payloads = make_payloads(Path(scratch), args.size_mb, args.kinds)
        rows = [
            measure(kind, payloads[kind], args.uploads, args.server_path) for kind in args.kinds
        ]
    where = args.server_path or "this checkout"
    print(
        f"decompose-bridge from {where}: {args.uploads} concurrent uploads of {args.size_mb:g} MB"
    )
    print(
        f"{'payload':<8}{'RSS before':>12}{'peak':>10}{'growth':>10}{'after':>10}{'wall s':>9}  replies"
    )
    for row in rows:
        growth = row["peak"] - row["before"]
        print(
            f"{row['kind']:<8}{row['before']:>10.0f}Mi{row['peak']:>8.0f}Mi{growth:>8.0f}Mi"
            f"{row['after']:>8.0f}Mi{row['wall']:>9.1f}  {', '.join(row['replies'])}"
        )


if __name__ == "__main__":
    main()
