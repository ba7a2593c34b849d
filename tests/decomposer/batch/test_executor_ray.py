"""The Ray executor on a real two-node cluster on 127.0.0.1 (see conftest.ray_cluster).

Drivers run as real `decompose` processes (or, to kill a worker, the runner in this process);
outputs are compared with the threads executor's, pixel for pixel.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from decomposer.atomic import is_temp_name
from decomposer.batch import JOURNAL_NAME, LOCK_NAME
from decomposer.batch.executors import ExecutorSettings, create_executor
from decomposer.batch.jobs import DONE, ModelSpec, RunOptions
from decomposer.batch.journal import Journal
from decomposer.batch.plan import Plan
from decomposer.batch.runner import BatchCallbacks, run_batch
from decomposer.options import DecomposeOptions
from decomposer.verify import read_layers, verify_output

pytest.importorskip("ray")


def decompose(
    *args: object, env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "decomposer.cli", *map(str, args)]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def start_decompose(*args: object, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A driver in its own session, so a Ctrl-C can go to its whole process group."""
    command = [sys.executable, "-m", "decomposer.cli", *map(str, args)]
    with open(log, "wb") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def wait_for_outputs(folder: Path, count: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 240
    while len(list(folder.rglob("*.psd"))) < count:
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.05)


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.name != JOURNAL_NAME]


def statuses(report: Path) -> dict[str, str]:
    return {e["input"]: e["status"] for e in json.loads(report.read_text())["files"]}


def journal_done(out: Path) -> set[str]:
    """Inputs the journal records as done (a line being appended right now is not yet one)."""
    done = set()
    for line in (out / JOURNAL_NAME).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if "key" in entry:
            done.add(entry["input"])
    return done


def same_layers(a: Path, b: Path) -> None:
    left, right = read_layers(a), read_layers(b)
    assert left.visible == right.visible and left.canvas_size == right.canvas_size
    for one, two in zip(left.layers, right.layers, strict=True):
        assert (one.name, one.offset) == (two.name, two.offset)
        np.testing.assert_array_equal(one.rgba, two.rgba)


def test_a_tree_converts_like_threads_and_bad_files_are_named_once(
    tmp_path: Path, art: Callable[..., Path], ray_cluster
) -> None:
    src = tmp_path / "in"
    for number, name in enumerate(["a.png", "sub/b.png", "sub/deep/c.jpg", "d.png", "sub/e.png"]):
        art(src / name, number, size=(96, 72))
    (src / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    (src / "truncated.png").write_bytes((src / "a.png").read_bytes()[:200])
    (src / "notes.txt").write_text("not an image")
    # Equal cores and threads per worker: one PyTorch thread each, two workers.
    one_thread = {**ray_cluster.env, "OMP_NUM_THREADS": "1"}
    threads = decompose(src, "-o", tmp_path / "threads", "-n", "4", "--workers", "2",
                        "--report", tmp_path / "threads.json", env=one_thread)  # fmt: skip
    ray = decompose(src, "-o", tmp_path / "ray", "-n", "4", "--executor", "ray",
                    "--ray-address", ray_cluster.address, "--report", tmp_path / "ray.json",
                    env=ray_cluster.env)  # fmt: skip
    for run in (threads, ray):
        assert run.returncode == 1, run.stderr
        assert f"{src / 'sub' / 'bad.png'}: " in run.stderr
        assert f"{src / 'truncated.png'}: " in run.stderr and "Traceback" not in run.stderr
    assert statuses(tmp_path / "ray.json") == statuses(tmp_path / "threads.json")
    report = json.loads((tmp_path / "ray.json").read_text())
    assert report["totals"] == {"done": 5, "skipped": 0, "failed": 2, "interrupted": 0,
                                "planned": 0}  # fmt: skip
    failed = [e for e in report["files"] if e["status"] == "failed"]
    assert all(e["attempts"] == 1 and e["error_kind"] == "input" for e in failed)  # not retried
    assert all(e["worker"] for e in report["files"] if e["attempts"])
    outputs = sorted(
        p.relative_to(tmp_path / "threads") for p in (tmp_path / "threads").rglob("*.psd")
    )
    assert len(outputs) == 5
    assert outputs == sorted(
        p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.psd")
    )
    for relative in outputs:
        same_layers(tmp_path / "threads" / relative, tmp_path / "ray" / relative)
    assert leftovers(tmp_path / "ray") == [] and leftovers(tmp_path / "threads") == []


def test_ctrl_c_kill_of_the_driver_and_resume(
    tmp_path: Path, art: Callable[..., Path], ray_cluster
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"img{number:02d}.png" for number in range(8)]
    for number, name in enumerate(names):
        art(src / name, 40 + number, size=(200, 150))
    # --ordering median: the network runs, so the batch is still converting when it is stopped
    args = (src, "-o", out, "-n", "3", "--executor", "ray", "--ray-address", ray_cluster.address,
            "--workers", "2", "--ordering", "median")  # fmt: skip

    # 1. Ctrl-C at the terminal (SIGINT to the driver's whole process group): a clean stop.
    first = start_decompose(*args, "--report", tmp_path / "r1.json", env=ray_cluster.env,
                            log=tmp_path / "log1.txt")  # fmt: skip
    try:
        wait_for_outputs(out, 1, first, tmp_path / "log1.txt")
        # Meanwhile a second batch on the same folder refuses, naming the first.
        second = decompose(src, "-o", out, "-n", "3", "--ordering", "median", env=ray_cluster.env)
        assert second.returncode == 2
        assert f"another batch is converting into this folder (pid {first.pid} on host" in (
            second.stderr
        )
        os.killpg(first.pid, signal.SIGINT)
        code = first.wait(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    log = (tmp_path / "log1.txt").read_text()
    assert code == 130, log
    assert "interrupted; run the same command again to resume" in log and "Traceback" not in log
    r1 = json.loads((tmp_path / "r1.json").read_text())
    assert r1["interrupted"] is True
    done_first = {e["input"] for e in r1["files"] if e["status"] == "done"}
    assert done_first == journal_done(out) and 1 <= len(done_first) < len(names)
    assert leftovers(out) == []  # no temp files, and the lock is released

    # 2. The driver killed outright (kill -9): the journal keeps what it had recorded.
    second_run = start_decompose(*args, env=ray_cluster.env, log=tmp_path / "log2.txt")
    try:
        deadline = time.monotonic() + 240
        while len(journal_done(out)) <= len(done_first):  # until it has recorded another file
            assert second_run.poll() is None, (tmp_path / "log2.txt").read_text()
            assert time.monotonic() < deadline, "nothing was recorded"
            time.sleep(0.02)
        second_run.kill()
        second_run.wait(timeout=60)
    finally:
        if second_run.poll() is None:
            second_run.kill()
    recorded = journal_done(out)
    assert done_first < recorded and (out / LOCK_NAME).exists()  # a dead driver's lock

    # 3. Resume: exactly the recorded files are skipped; everything else is converted.
    third = decompose(*args, "--report", tmp_path / "r3.json", env=ray_cluster.env)
    assert third.returncode == 0, third.stderr
    final = statuses(tmp_path / "r3.json")
    assert {name for name, status in final.items() if status == "skipped"} == recorded
    assert all(status in ("done", "skipped") for status in final.values())
    for name in names:
        rgba = np.asarray(Image.open(src / name).convert("RGBA"))
        assert verify_output((out / name).with_suffix(".psd"), rgba).ok
    assert leftovers(out) == []  # killed workers' temp files swept, lock released


def test_killing_a_worker_mid_batch_loses_nothing(
    tmp_path: Path, art: Callable[..., Path], ray_cluster
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    for number in range(6):
        art(src / f"img{number}.png", 70 + number, size=(200, 150))
    options = RunOptions(decompose=DecomposeOptions(layers=3), model=ModelSpec())
    executor = create_executor("ray", ExecutorSettings(workers=3, ray_address=ray_cluster.address))
    killed: list[int] = []

    def finished(job, result) -> None:
        # The worker that just finished a file is already converting the next one queued on it.
        if not killed and result.status == DONE:
            pid = int(result.worker.split("-")[0])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    journal = Journal(out / JOURNAL_NAME)
    report = run_batch(Plan((str(src),), out, "psd"), options, executor=executor,
                       journal=journal, callbacks=BatchCallbacks(finished=finished))  # fmt: skip
    files = list(report.files())
    report.close()
    assert killed and report.exit_code() == 0, files
    assert [e["status"] for e in files] == ["done"] * 6
    retried = [e for e in files if e["attempts"] == 2]
    assert retried, "the killed worker was converting a file"
    assert all("died while converting it; converted again" in e["warnings"][0] for e in retried)
    assert all(int(e["worker"].split("-")[0]) != killed[0] for e in retried)
    assert len(journal_done(out)) == 6
    for number in range(6):
        rgba = np.asarray(Image.open(src / f"img{number}.png").convert("RGBA"))
        assert verify_output(out / f"img{number}.psd", rgba).ok
    assert [p for p in out.iterdir() if is_temp_name(p.name)] == []


def test_without_an_address_a_local_cluster_is_started_for_the_run(
    tmp_path: Path, art: Callable[..., Path], ray_cluster
) -> None:
    art(tmp_path / "in" / "a.png", 1)
    env = {k: v for k, v in ray_cluster.env.items() if k != "RAY_ADDRESS"}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")  # the executor sets loopback-only itself
    run = decompose(tmp_path / "in", "-o", tmp_path / "out", "--executor", "ray", "--workers", "1",
                    "-n", "2", "-v", env=env)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "1 Ray worker(s) on a cluster of 1 node(s)" in run.stderr
    assert len(read_layers(tmp_path / "out" / "a.psd").visible_layers()) == 2
