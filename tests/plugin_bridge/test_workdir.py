"""The bridge's work folder: dead bridges' folders are removed at start-up (only ours, by name,
owner and owner record), and a folder that vanishes is re-created private (0700)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from decomposer.processes import ProcessIdentity
from plugin_bridge.client import BridgeClient
from plugin_bridge.workdir import OWNER_NAME, WorkFolder, is_stale_work_folder
from tests.plugin_bridge.conftest import bridge_command, free_port

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file owners and modes are POSIX")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def dead_owner_record(folder: Path) -> None:
    """Write an owner record naming a process of this host that has exited."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    identity = ProcessIdentity.current()
    record = {**identity.to_json(), "pid": gone.pid, "started": None}
    (folder / OWNER_NAME).write_text(json.dumps(record))
    assert ProcessIdentity.from_json(record).is_alive() is False


def killed_bridge_folder(root: Path, token_file: Path, png: bytes) -> Path:
    """Run a real `decompose-bridge` whose temp folder is `root`, upload an image, `kill -9` it;
    returns the work folder it left behind."""
    port = free_port()
    process = subprocess.Popen(
        bridge_command(port, token_file),
        env={**os.environ, "TMPDIR": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "bridge did not start"
            try:
                with opener.open(f"http://127.0.0.1:{port}/v1/health", timeout=2) as response:
                    json.loads(response.read())
                break
            except OSError:
                time.sleep(0.2)
        client = BridgeClient(f"http://127.0.0.1:{port}", token=token_file.read_text().strip())
        client.submit(png, layers=2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    (left,) = [p for p in root.iterdir() if p.name.startswith("decompose-bridge-")]
    assert any(left.rglob("*")), "the killed bridge left files behind"
    return left


def test_dead_bridges_folders_are_removed_at_start_up_and_nothing_else(
    start_bridge: Any, illustration_png: Any, tmp_path: Path
) -> None:
    root = tmp_path / "tmp"
    root.mkdir()
    dead = killed_bridge_folder(root, tmp_path / "token-dead", illustration_png(32, 32, seed=500))
    assert is_stale_work_folder(dead)

    alive = WorkFolder(root)  # held by this process: a running bridge's
    old_legacy = root / "decompose-bridge-oldstyle"  # made before owner records, idle 2 days
    (old_legacy / "uploads").mkdir(parents=True)
    fresh_legacy = root / "decompose-bridge-fresh"
    fresh_legacy.mkdir()
    two_days_ago = time.time() - 2 * 86400
    for path in (old_legacy / "uploads", old_legacy):
        os.utime(path, (two_days_ago, two_days_ago))
    not_a_folder = root / "decompose-bridge-file"
    not_a_folder.write_text("keep me")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dead_owner_record(elsewhere)
    link = root / "decompose-bridge-link"
    link.symlink_to(elsewhere, target_is_directory=True)
    other_name = root / "somebody-else"
    other_name.mkdir()
    dead_owner_record(other_name)
    foreign = root / "decompose-bridge-foreign"
    foreign.mkdir()
    dead_owner_record(foreign)
    if os.geteuid() == 0:
        os.chown(foreign / OWNER_NAME, 12345, 12345)
        os.chown(foreign, 12345, 12345)

    bridge = start_bridge(work_root=root)
    try:
        assert not dead.exists(), "a killed bridge's folder (and users' uploads) is removed"
        assert not old_legacy.exists()
        for kept in (alive.path, fresh_legacy, not_a_folder, link, elsewhere, other_name):
            assert kept.exists() or kept.is_symlink(), kept
        assert (elsewhere / OWNER_NAME).exists(), "a link is not followed"
        if os.geteuid() == 0:
            assert foreign.exists(), "another user's folder is left alone"
        assert bridge.workdir.parent == root and bridge.workdir.exists()
        assert not is_stale_work_folder(bridge.workdir), "the running bridge is alive"
    finally:
        alive.close()


def test_vanished_work_folder_is_recreated_private(
    start_bridge: Any, illustration_png: Any
) -> None:
    bridge = start_bridge()
    workdir = bridge.workdir
    assert mode_of(workdir) == 0o700
    shutil.rmtree(workdir)  # e.g. a temp-folder cleaner
    client = bridge.client()
    old_umask = os.umask(0o022)
    try:
        job = client.submit(illustration_png(32, 32, seed=510), layers=2)
    finally:
        os.umask(old_umask)
    assert client.wait(job.id, timeout_s=120)["state"] == "finished"
    assert mode_of(workdir) == 0o700, "re-created private, not with the umask's 0755"
    assert mode_of(workdir / "uploads") == 0o700 and mode_of(workdir / job.id) == 0o700
    assert (workdir / OWNER_NAME).is_file() and not is_stale_work_folder(workdir), "owned again"
    assert client.result(job.id)["layer_count"] >= 1
