"""The CLI never loses a user's file, cleans only its own leftovers, and says what is wrong.

Each test here failed before the fix (issue 12, defects 1, 8 and 9).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result
from PIL import Image

from decomposer.atomic import is_temp_name
from decomposer.batch import JOURNAL_NAME, LOCK_NAME
from decomposer.cli import main

ROOT = Path(__file__).resolve().parents[2]


def art(path: Path, seed: int = 1, size: tuple[int, int] = (80, 60)) -> Path:
    rng = np.random.default_rng(seed)
    pixels = np.zeros((size[1], size[0], 3), np.uint8)
    pixels[...] = rng.integers(0, 256, 3)
    for _ in range(5):
        x, y = rng.integers(0, size[0] - 10), rng.integers(0, size[1] - 10)
        pixels[y : y + size[1] // 3, x : x + size[0] // 3] = rng.integers(0, 256, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if is_temp_name(p.name)]


def killed_write(target: Path) -> Path:
    """A real process killed with SIGKILL in the middle of writing `target`: its leftover."""
    code = (
        "import sys, time\nfrom decomposer.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n    tmp.write_bytes(b'half a PSD')\n"
        "    print('writing', flush=True)\n    time.sleep(120)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(target)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "writing"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    (leftover,) = temps(target.parent)
    return leftover


# ------------------------------------------------------------------ defect 1: silent data loss


def test_a_single_run_never_replaces_an_existing_file_without_overwrite(tmp_path: Path) -> None:
    source = art(tmp_path / "art.png")
    mine = tmp_path / "art.psd"
    mine.write_bytes(b"the artist's own layered source")
    refused = run(source, "--model", "random:tiny", "-n", "2")
    assert refused.exit_code == 2
    assert refused.stderr == f"error: {mine}: already exists; pass --overwrite to replace it\n"
    assert mine.read_bytes() == b"the artist's own layered source"
    depth = tmp_path / "map.png"
    depth.write_bytes(b"someone's map")
    also = run(source, "-o", tmp_path / "new.psd", "--depth-out", depth, "--model", "random:tiny")
    assert also.exit_code == 2 and f"{depth}: already exists" in also.stderr
    assert not (tmp_path / "new.psd").exists()
    replaced = run(source, "--model", "random:tiny", "-n", "2", "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert mine.read_bytes()[:4] == b"8BPS"


def test_a_batch_without_o_leaves_files_it_did_not_write_alone(tmp_path: Path) -> None:
    src = tmp_path / "in"
    art(src / "a.png", 1)
    art(src / "b.png", 2)
    source_psd = src / "a.psd"
    source_psd.write_bytes(b"the artist's layered a.psd")
    first = run(src, "--model", "random:tiny", "-n", "2")
    assert first.exit_code == 1
    assert f"{source_psd}: already exists and this tool did not write it" in first.stderr
    assert source_psd.read_bytes() == b"the artist's layered a.psd"
    assert (src / "b.psd").read_bytes()[:4] == b"8BPS"
    # On resume our own b.psd may be replaced (options changed); a.psd still may not.
    second = run(src, "--model", "random:tiny", "-n", "3", "--json")
    assert second.exit_code == 1 and '"done": 1' in second.stdout
    assert source_psd.read_bytes() == b"the artist's layered a.psd"
    forced = run(src, "--model", "random:tiny", "-n", "3", "--overwrite")
    assert forced.exit_code == 0, forced.output
    assert source_psd.read_bytes()[:4] == b"8BPS"


def test_a_second_batch_on_the_same_output_folder_refuses(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    for number in range(6):
        art(src / f"img{number}.png", number, size=(360, 270))
    command = [sys.executable, "-m", "decomposer.cli", str(src), "-o", str(out), "--model",
               "random:tiny", "-n", "3"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(tmp_path / "log.txt", "wb") as log:
        first = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_NAME).exists():
            assert first.poll() is None, (tmp_path / "log.txt").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = run(src, "-o", out, "--model", "random:tiny", "-n", "3")
        if first.poll() is None:  # (the first could in principle be done already)
            assert second.exit_code == 2
            assert second.stderr.startswith(
                f"error: {out}: another batch is converting into this folder (pid {first.pid} "
            )
        assert first.wait(timeout=240) == 0, (tmp_path / "log.txt").read_text()
    finally:
        if first.poll() is None:
            first.kill()
    assert not (out / LOCK_NAME).exists()
    assert len(list(out.glob("*.psd"))) == 6


# ------------------------------------------------------------------ defect 8: crash leftovers


def test_leftovers_of_a_killed_write_are_cleaned_at_start_up(tmp_path: Path) -> None:
    source = art(tmp_path / "art.png")
    out = tmp_path / "out"
    leftover = killed_write(out / "art.psd")
    other_folder_leftover = killed_write(tmp_path / "elsewhere" / "x.psd")
    done = run(source, "-o", out / "art.psd", "--model", "random:tiny", "-n", "2")
    assert done.exit_code == 0, done.output
    assert not leftover.exists() and temps(out) == []
    assert other_folder_leftover.exists()  # not a folder this run writes to
    src = tmp_path / "in"
    art(src / "sub" / "b.png", 2)
    batch_leftover = killed_write(tmp_path / "batch" / "sub" / "b.psd")
    unrelated = tmp_path / "batch" / "sub" / ".notes.tmp"
    unrelated.write_text("not one of ours")
    batch = run(src, "-o", tmp_path / "batch", "--model", "random:tiny", "-n", "2")
    assert batch.exit_code == 0, batch.output
    assert not batch_leftover.exists() and unrelated.exists()


# ------------------------------------------------------------------ defect 9: messages


def test_a_missing_single_input_with_o_says_no_such_file(tmp_path: Path) -> None:
    result = run(tmp_path / "nope.png", "-o", tmp_path / "x.psd")
    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'nope.png'}: no such file\n"
    folder = run(f"{tmp_path / 'nope'}/", "-o", tmp_path / "out")
    assert folder.stderr == f"error: {tmp_path / 'nope'}/: no such file or folder\n"


def test_name_collisions_are_named_on_the_terminal_before_converting(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    art(src / "a.jpg", 1)
    art(src / "a.png", 2)
    result = run(src, "-o", out, "--model", "random:tiny", "-n", "2")
    assert result.exit_code == 1
    message = (
        f"error: {src / 'a.png'}: output {out / 'a.psd'} is also the output of {src / 'a.jpg'}"
    )
    assert result.stderr.splitlines()[0] == message
    assert result.stderr.count(message) == 1


def test_a_read_only_output_folder_names_the_output(tmp_path: Path, read_only: Path) -> None:
    source = art(tmp_path / "art.png")
    result = run(source, "-o", read_only / "art.psd", "--model", "random:tiny", "-n", "2", "-q")
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()  # -q: errors only (no random:tiny warning)
    assert line.startswith(f"error: {source}: cannot write {read_only / 'art.psd'}: ")
    assert ".tmp" not in line


def test_a_batch_into_a_read_only_folder_names_the_folder(tmp_path: Path, read_only: Path) -> None:
    art(tmp_path / "in" / "a.png")
    result = run(tmp_path / "in", "-o", read_only, "--model", "random:tiny")
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {read_only}: cannot write to the output folder (")
    assert ".tmp" not in line


def test_an_unreadable_journal_is_warned_about(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    art(src / "a.png", 1)
    (out / JOURNAL_NAME).mkdir(parents=True)  # something in the journal's way
    result = run(src, "-o", out, "--model", "random:tiny", "-n", "2")
    assert f"warning: {out / JOURNAL_NAME}: cannot read the journal" in result.stderr
    damaged = tmp_path / "out2"
    damaged.mkdir()
    (damaged / JOURNAL_NAME).write_bytes(b"\x00\xff not json\n")
    again = run(src, "-o", damaged, "--model", "random:tiny", "-n", "2")
    assert again.exit_code == 0
    assert f"warning: {damaged / JOURNAL_NAME}: 1 damaged line(s) ignored" in again.stderr
