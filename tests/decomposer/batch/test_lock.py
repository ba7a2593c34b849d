"""One batch per output folder: a live holder refuses the second, a dead one's lock is taken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from decomposer.batch.lock import LOCK_NAME, BatchLock, BatchLocked
from decomposer.processes import ProcessIdentity, host_name

ROOT = Path(__file__).resolve().parents[3]


def holder_process(folder: Path) -> subprocess.Popen[str]:
    """Another process that takes the folder's lock and keeps it until its stdin closes."""
    code = (
        "import sys\nfrom pathlib import Path\nfrom decomposer.batch.lock import BatchLock\n"
        "with BatchLock(Path(sys.argv[1])):\n    print('locked', flush=True)\n    sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    return child


def write_lock(folder: Path, identity: ProcessIdentity) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_NAME).write_text(json.dumps({**identity.to_json(), "since": "earlier"}))


def test_a_live_batch_keeps_the_folder_and_releases_it_on_exit(tmp_path: Path) -> None:
    child = holder_process(tmp_path)
    try:
        with pytest.raises(BatchLocked) as refused:
            BatchLock(tmp_path).acquire()
        assert str(refused.value) == (
            f"{tmp_path}: another batch is converting into this folder (pid {child.pid} on host "
            f"{host_name()}, since {json.loads((tmp_path / LOCK_NAME).read_text())['since']}); "
            "wait for it to finish"
        )
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)
    assert not (tmp_path / LOCK_NAME).exists()
    with BatchLock(tmp_path) as lock:
        assert lock.took_over is None and (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temp files left either


def test_a_killed_batchs_lock_is_taken_over(tmp_path: Path) -> None:
    child = holder_process(tmp_path)
    child.kill()  # kill -9: the lock stays behind
    child.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).exists()
    with BatchLock(tmp_path) as lock:
        assert lock.took_over is not None and lock.took_over.pid == child.pid
        holder, _ = lock.holder()
        assert holder is not None and holder.pid == os.getpid()


def test_a_reused_pid_is_not_the_holder(tmp_path: Path) -> None:
    me = ProcessIdentity.current()
    if me.started is None:
        pytest.skip("process start times are read from Linux /proc")
    write_lock(tmp_path, ProcessIdentity(me.host, me.pid, me.boot, me.started - 1))
    with BatchLock(tmp_path) as lock:
        assert lock.took_over is not None


def test_a_lock_from_another_host_says_how_to_remove_it(tmp_path: Path) -> None:
    write_lock(tmp_path, ProcessIdentity("render-node-7", 4242))
    with pytest.raises(BatchLocked, match=r"pid 4242 on host render-node-7.*delete .*lock"):
        BatchLock(tmp_path).acquire()
    assert (tmp_path / LOCK_NAME).exists()  # left for its owner
