"""Batch conversion through the real `decompose` CLI: mirroring, bad files, resume, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result
from PIL import Image

from decomposer.batch import JOURNAL_NAME
from decomposer.cli import main
from decomposer.verify import read_layers, verify_output
from tests.decomposer.batch.conftest import draw_art as art


def run(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def report_of(path: Path) -> dict[str, dict]:
    data = json.loads(path.read_text())
    return {Path(entry["input"]).name: entry for entry in data["files"]}


def leftovers(folder: Path) -> list[Path]:
    """Temp files or folders anywhere under `folder` (everything hidden but the journal)."""
    return [p for p in folder.rglob(".*") if p.name != JOURNAL_NAME]


def test_bad_file_among_good_ones_mirrors_tree_and_exits_1(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    good = [
        art(src / "a.png", 1),
        art(src / "sub" / "b.png", 2),
        art(src / "sub" / "deep" / "c.jpg", 3),
    ]
    (src / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    (src / "notes.txt").write_text("not an image")
    result = run(src, "-o", out, "--model", "random:tiny", "--ordering", "median", "-n", "3",
                 "--workers", "2", "--verify", "-v", "--report", tmp_path / "report.json")  # fmt: skip
    assert result.exit_code == 1, result.output
    expected = [out / "a.psd", out / "sub" / "b.psd", out / "sub" / "deep" / "c.psd"]
    for source, output in zip(good, expected, strict=True):
        back = read_layers(output)
        assert len(back.visible_layers()) == 3
        rgba = np.asarray(Image.open(source).convert("RGBA"))
        assert verify_output(output, rgba).ok
    assert not (out / "sub" / "bad.psd").exists() and not (out / "notes.psd").exists()
    assert leftovers(out) == []
    report = report_of(tmp_path / "report.json")
    assert {name: entry["status"] for name, entry in report.items()} == {
        "a.png": "done", "b.png": "done", "c.jpg": "done", "bad.png": "failed"
    }  # fmt: skip
    assert report["bad.png"]["error"].startswith(str(src / "sub" / "bad.png"))
    assert "\n" not in report["bad.png"]["error"]
    assert all(report[n]["layers"] == 3 and report[n]["seconds"] > 0 for n in ("a.png", "b.png"))
    assert str(src / "sub" / "bad.png") in result.stderr and "Traceback" not in result.output
    assert result.stderr.count("model random:tiny loaded in") == 1  # one model for the whole batch


def test_resume_skips_done_files_and_never_trusts_a_half_written_one(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    for number, name in enumerate(("a", "b", "c")):
        art(src / f"{name}.png", 10 + number)
    first = run(src, "-o", out, "--model", "random:tiny", "-n", "3", "-q")
    assert first.exit_code == 0, first.output
    assert (out / JOURNAL_NAME).is_file()

    again = run(src, "-o", out, "--model", "random:tiny", "-n", "3", "--json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["totals"]["skipped"] == 3

    # b.psd changed after this tool wrote it (here: cut short, as a non-atomic writer's crash
    # would leave it) and the input of c changes. c is redone; b is not ours any more, so it is
    # left alone and reported until --overwrite; a is still skipped.
    half = out / "b.psd"
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    changed_b = half.read_bytes()
    art(src / "c.png", 99)
    third = run(
        src, "-o", out, "--model", "random:tiny", "-n", "3", "--report", tmp_path / "r3.json"
    )
    assert third.exit_code == 1, third.output
    assert f"{half}: already exists and changed since this tool wrote it" in third.stderr
    statuses = {n: e["status"] for n, e in report_of(tmp_path / "r3.json").items()}
    assert statuses == {"a.png": "skipped", "b.png": "failed", "c.png": "done"}
    assert half.read_bytes() == changed_b
    fourth = run(src, "-o", out, "--model", "random:tiny", "-n", "3", "--overwrite", "--json")
    assert fourth.exit_code == 0, fourth.output
    assert json.loads(fourth.stdout)["totals"] == {
        "done": 1, "skipped": 2, "failed": 0, "interrupted": 0, "planned": 0
    }  # fmt: skip
    assert verify_output(half, np.asarray(Image.open(src / "b.png").convert("RGBA"))).ok

    # Other options that change the output re-process (our own outputs are replaced); --redo
    # converts everything again.
    changed = run(src, "-o", out, "--model", "random:tiny", "-n", "2", "--json")
    assert json.loads(changed.stdout)["totals"]["done"] == 3
    assert len(read_layers(out / "a.psd").visible_layers()) == 2
    forced = run(src, "-o", out, "--model", "random:tiny", "-n", "2", "--redo", "--json")
    assert json.loads(forced.stdout)["totals"] == {
        "done": 3, "skipped": 0, "failed": 0, "interrupted": 0, "planned": 0
    }  # fmt: skip


def test_interrupted_batch_resumes_only_the_remaining_files(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    names = [f"img{number}.png" for number in range(6)]
    for number, name in enumerate(names):
        art(src / name, 100 + number, size=(360, 270))
    command = [sys.executable, "-m", "decomposer.cli", str(src), "-o", str(out), "--model",
               "random:tiny", "-n", "3", "--report", str(tmp_path / "r1.json")]  # fmt: skip
    with open(tmp_path / "log.txt", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not any(out.glob("*.psd")):
                assert process.poll() is None, (tmp_path / "log.txt").read_text()
                assert time.monotonic() < deadline, "no output appeared"
                time.sleep(0.02)
            process.send_signal(signal.SIGINT)
            code = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
    log_text = (tmp_path / "log.txt").read_text()
    assert code == 130, log_text
    assert "interrupted" in log_text and "Traceback" not in log_text
    written = sorted(p.name for p in out.glob("*.psd"))
    assert 1 <= len(written) < len(names), written
    first = json.loads((tmp_path / "r1.json").read_text())
    assert first["interrupted"] is True
    done_first = sorted(Path(e["output"]).name for e in first["files"] if e["status"] == "done")
    assert done_first == written
    assert leftovers(out) == []

    second = run(
        src, "-o", out, "--model", "random:tiny", "-n", "3", "--report", tmp_path / "r2.json"
    )
    assert second.exit_code == 0, second.output
    statuses = {n: e["status"] for n, e in report_of(tmp_path / "r2.json").items()}
    assert sorted(n for n, s in statuses.items() if s == "skipped") == [
        Path(w).with_suffix(".png").name for w in written
    ]
    assert sum(s == "done" for s in statuses.values()) == len(names) - len(written)
    assert sorted(p.name for p in out.glob("*.psd")) == [
        Path(n).with_suffix(".psd").name for n in names
    ]


def test_dry_run_globs_explicit_files_and_collisions(tmp_path: Path) -> None:
    src = tmp_path / "in"
    art(src / "a.png", 1)
    art(src / "sub" / "b.png", 2)
    art(src / "sub" / "b.jpg", 3)
    out = tmp_path / "out"
    (src / "sub" / "notes.txt").write_text("not an image")
    plan = run(f"{src}/**/*.png", "-o", out, "--dry-run", "--json")
    assert plan.exit_code == 0, plan.output
    data = json.loads(plan.stdout)
    assert data["dry_run"] is True and data["totals"]["planned"] == 2
    assert sorted(e["output"] for e in data["files"]) == [
        str(out / "a.psd"),
        str(out / "sub" / "b.psd"),
    ]
    everything = json.loads(run(f"{src}/**/*", "-o", out, "--dry-run", "--json").stdout)
    assert sorted(Path(e["input"]).name for e in everything["files"]) == ["a.png", "b.jpg", "b.png"]
    listing = run(src, "-o", out, "--dry-run", "--format", "ora")
    # b.png and b.jpg would both write out/sub/b.ora: the plan says so and exits 1.
    assert listing.exit_code == 1
    assert f"process      {src / 'a.png'} -> {out / 'a.ora'}" in listing.stdout
    assert f"cannot run   {src / 'sub' / 'b.png'} -> {out / 'sub' / 'b.ora'}" in listing.stdout
    assert not out.exists()

    both = run(src / "sub" / "b.png", src / "sub" / "b.jpg", "-o", out, "--model", "random:tiny",
               "-n", "2", "--format", "ora", "--report", tmp_path / "r.json")  # fmt: skip
    assert both.exit_code == 1
    report = report_of(tmp_path / "r.json")
    assert report["b.png"]["status"] == "done" and (out / "b.ora").is_file()
    assert report["b.jpg"]["status"] == "failed" and "also the output" in report["b.jpg"]["error"]


def test_missing_input_among_several_is_a_usage_error(tmp_path: Path) -> None:
    art(tmp_path / "a.png", 1)
    result = run(tmp_path / "a.png", tmp_path / "nope", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: no such file or folder"
    assert not (tmp_path / "out").exists()
    many = run(tmp_path / "a.png", tmp_path / "a.png", "-o", tmp_path / "x.psd")
    assert many.exit_code == 2 and "must be a folder" in many.output


def test_outputs_next_to_inputs_are_not_rescanned_and_depth_maps_mirror(tmp_path: Path) -> None:
    src = tmp_path / "in"
    art(src / "a.png", 5)
    art(src / "sub" / "b.png", 6)
    depth = src / "depth"  # inside the input folder: must not be rescanned as input either
    first = run(
        src, "--format", "png", "--model", "random:tiny", "-n", "2", "--depth-out", depth, "--json"
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["totals"]["done"] == 2
    for stack in (src / "a_layers", src / "sub" / "b_layers"):
        assert len(read_layers(stack).layers) == 2
    for index_png in (depth / "a_index.png", depth / "sub" / "b_index.png"):
        with Image.open(index_png) as image:
            assert image.mode == "I;16" and np.asarray(image).max() == 65535
    # The PNG stacks written inside the input folder are not taken as new inputs.
    second = run(
        src, "--format", "png", "--model", "random:tiny", "-n", "2", "--depth-out", depth, "--json"
    )
    data = json.loads(second.stdout)
    assert second.exit_code == 0 and data["totals"]["skipped"] == 2 and len(data["files"]) == 2
    assert Path(data["journal"]) == src / JOURNAL_NAME

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    none = run(empty, "-o", tmp_path / "out")
    assert none.exit_code == 2 and "no input images found" in none.stderr


def test_new_weights_in_a_model_folder_invalidate_earlier_results(tmp_path: Path) -> None:
    from model import create_model, save_pretrained

    weights = tmp_path / "weights"
    save_pretrained(create_model("tiny"), weights)
    src, out = tmp_path / "in", tmp_path / "out"
    art(src / "a.png", 7)
    args = (src, "-o", out, "--model", weights, "-n", "2", "--json", "--ordering", "median")
    assert json.loads(run(*args).stdout)["totals"]["done"] == 1
    assert json.loads(run(*args).stdout)["totals"]["skipped"] == 1
    save_pretrained(create_model("tiny"), weights)  # retrained weights, same folder
    stamp = (weights / "model.safetensors").stat()
    os.utime(weights / "model.safetensors", ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    assert json.loads(run(*args).stdout)["totals"]["done"] == 1
    # the graph ordering does not run the network: new weights leave its results alone
    graph = (src, "-o", tmp_path / "graph", "--model", weights, "-n", "2", "--json")
    assert json.loads(run(*graph).stdout)["totals"]["done"] == 1
    save_pretrained(create_model("tiny"), weights)
    assert json.loads(run(*graph).stdout)["totals"]["skipped"] == 1


def test_help_says_what_overwrite_redo_and_ray_need() -> None:
    text = " ".join(run("--help").output.split())
    assert "--executor [ray|threads]" in text and "--ray-address ADDRESS" in text
    assert "storage that every node of the cluster sees at the same path" in text
    assert "Existing files are never replaced unless you pass --overwrite" in text
    assert "--redo Batch: convert files again even if the journal says they are done" in text


def test_svg_outputs_next_to_inputs_are_not_taken_as_inputs_on_a_rerun(tmp_path: Path) -> None:
    src = tmp_path / "in"
    art(src / "a.png", 7)
    art(src / "sub" / "b.png", 8)
    first = run(src, "--format", "svg", "--model", "random:tiny", "-n", "2", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["totals"]["done"] == 2
    assert (src / "a.svg").is_file() and (src / "sub" / "b.svg").is_file()
    # a.svg and b.svg are SVG, an input format, but the journal knows them as our outputs
    second = run(src, "--format", "svg", "--model", "random:tiny", "-n", "2", "--json")
    data = json.loads(second.stdout)
    assert second.exit_code == 0, second.output
    assert data["totals"]["skipped"] == 2 and len(data["files"]) == 2
    assert sorted(Path(f["input"]).name for f in data["files"]) == ["a.png", "b.png"]
    # a user's own SVG in the folder still is an input
    (src / "c.svg").write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' width='40' height='30'>"
        "<rect width='40' height='30' fill='#2060c0'/><circle cx='20' cy='15' r='9' fill='#e0a020'/>"
        "</svg>"
    )
    third = run(src, "--format", "psd", "--model", "random:tiny", "-n", "2", "--json")
    data = json.loads(third.stdout)
    assert third.exit_code == 0, third.output
    assert sorted(Path(f["input"]).name for f in data["files"]) == ["a.png", "b.png", "c.svg"]
    assert data["totals"]["done"] == 3 and (src / "c.psd").is_file()
