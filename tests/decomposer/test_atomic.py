"""Atomic writes name the output in errors; leftovers of killed writers are cleaned, only ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from decomposer.atomic import (
    STALE_AFTER_SECONDS,
    TempSweeper,
    atomic_dir,
    atomic_path,
    is_temp_name,
    parse_temp_name,
    remove_stale_temps,
)
from decomposer.processes import host_tag, owner_tag

ROOT = Path(__file__).resolve().parents[2]


def killed_writer(target: Path, folder: bool = False) -> Path:
    """Start a real process writing `target` atomically, kill -9 it mid-write; its temp entry."""
    kind = "atomic_dir" if folder else "atomic_path"
    body = "(tmp / 'part.png').write_bytes(b'x')" if folder else "tmp.write_bytes(b'half')"
    code = (
        f"import sys, time\nfrom decomposer.atomic import {kind}\n"
        f"with {kind}(sys.argv[1]) as tmp:\n    {body}\n    print('ready', flush=True)\n"
        "    time.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    (leftover,) = [p for p in target.parent.iterdir() if is_temp_name(p.name)]
    return leftover


def test_temp_names_carry_the_output_name_and_the_maker(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "art.v2.psd") as tmp:
        entry = parse_temp_name(tmp)
        assert entry is not None and entry.target == "art.v2.psd" and entry.tag == owner_tag()
        tmp.write_bytes(b"ok")
    assert parse_temp_name(tmp_path / ".notes.tmp") is None  # not one of our names
    old_style = parse_temp_name(tmp_path / ".art.psd.k3j4h5g6.tmp")
    assert old_style is not None and old_style.target == "art.psd" and old_style.tag is None


def test_a_killed_writers_leftover_is_removed_and_a_live_ones_kept(tmp_path: Path) -> None:
    leftover = killed_writer(tmp_path / "art.psd")
    keep_unrelated = tmp_path / ".notes.tmp"
    keep_unrelated.write_text("someone else's")
    with atomic_path(tmp_path / "live.psd") as live:  # our own write, in progress
        assert remove_stale_temps(tmp_path) == [leftover]
        assert live.exists()
        live.write_bytes(b"done")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.tmp", "live.psd"]


def test_only_the_named_target_dead_tags_and_old_entries(tmp_path: Path) -> None:
    foreign = tmp_path / f".a.psd.abcdefgh.123-{host_tag('other-host')}.tmp"
    foreign.write_bytes(b"x")
    other = tmp_path / f".b.psd.abcdefgh.123-{host_tag('other-host')}.tmp"
    other.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == []  # another host's pid: cannot tell, too young
    assert remove_stale_temps(tmp_path, target="a.psd", dead=["123-" + host_tag("other-host")]) == [
        foreign
    ]
    old = time.time() - STALE_AFTER_SECONDS - 60
    os.utime(other, (old, old))
    assert remove_stale_temps(tmp_path) == [other]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs chown")
def test_another_users_leftover_is_never_touched(tmp_path: Path) -> None:
    leftover = killed_writer(tmp_path / "art.psd")
    os.chown(leftover, 65534, 65534)
    assert remove_stale_temps(tmp_path) == []
    assert TempSweeper(abandoned_unless_live=True).sweep(tmp_path / "art.psd") == []
    assert leftover.exists()


def test_a_png_stack_parked_by_a_killed_writer_is_put_back(tmp_path: Path) -> None:
    stack = tmp_path / "art_layers"
    with atomic_dir(stack) as tmp:
        (tmp / "00_back.png").write_bytes(b"old")
    # A writer killed between moving the old folder aside and moving the new one in.
    parked = tmp_path / f".art_layers.old.abcdefgh.{dead_tag()}.tmp"
    parked.mkdir()
    os.replace(stack, parked / "content")
    assert remove_stale_temps(tmp_path) == [parked]
    assert (stack / "00_back.png").read_bytes() == b"old"


def dead_tag() -> str:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{child.pid}-{host_tag()}"


def test_sweeper_for_a_locked_batch_takes_foreign_host_entries_of_its_outputs(
    tmp_path: Path,
) -> None:
    mine = killed_writer(tmp_path / "a.psd")
    foreign = tmp_path / f".b.psd.abcdefgh.77-{host_tag('other-host')}.tmp"
    foreign.write_bytes(b"x")
    unplanned = tmp_path / f".c.psd.abcdefgh.77-{host_tag('other-host')}.tmp"
    unplanned.write_bytes(b"x")
    sweeper = TempSweeper(abandoned_unless_live=True)
    with atomic_path(tmp_path / "d.psd") as live:
        assert sweeper.sweep(tmp_path / "a.psd") == [mine]
        assert sweeper.sweep(tmp_path / "b.psd") == [foreign]
        assert sweeper.sweep(tmp_path / "d.psd") == []  # a live writer of this host
        live.write_bytes(b"ok")
    assert unplanned.exists() and sweeper.removed == [mine, foreign]


def test_errors_name_the_output_not_the_temp_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OSError) as caught, atomic_path(blocker / "out.psd") as tmp:
        tmp.write_bytes(b"never")
    assert caught.value.filename == str(blocker / "out.psd")
