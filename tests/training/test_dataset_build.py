"""build-dataset / fetch-sources end to end on the small fixtures, plus the split rules."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from training.dataset_cli import build_dataset, fetch_sources
from training.sources import base_key, open_source, split_of

DATA = Path(__file__).resolve().parents[1] / "data"


def make_source(tmp_path: Path) -> Path:
    """A local source folder: a few of the hand-written SVGs under emoji-like names."""
    folder = tmp_path / "twemoji"
    (folder / "svg").mkdir(parents=True)
    names = {
        "overlap.svg": "1f44b.svg",
        "stroke_above_fill.svg": "1f44b-1f3fd.svg",
        "non_square.svg": "1f600.svg",
        "ambiguous.svg": "1f601.svg",
        "text.svg": "2764-fe0f.svg",
    }
    for src, dst in names.items():
        shutil.copyfile(DATA / "svg_labels" / src, folder / "svg" / dst)
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_build_dataset_end_to_end_and_resume(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    psd = DATA / "psd_labels" / "2layers.psd"
    out = tmp_path / "ds"
    runner = CliRunner()
    args = [str(source), str(psd), "--out", str(out), "--size", "32", "--synthetic", "3"]
    result = runner.invoke(build_dataset, args)
    assert result.exit_code == 0, result.output

    manifest = read_csv(out / "manifest.csv")
    assert list(manifest[0]) == ["name", "source", "licence", "visible_pieces", "split"]
    names = {row["name"] for row in manifest}
    assert "twemoji__1f601" not in names  # dropped by the curation filter
    assert len(manifest) == 4 + 1 + 3
    for row in manifest:
        rgb = Image.open(out / "rgb" / f"{row['name']}.png")
        label = Image.open(out / "label" / f"{row['name']}.png")
        assert rgb.mode == "RGB" and rgb.size == (32, 32)
        assert label.mode == "I;16" and label.size == (32, 32)
        assert int(np.asarray(label).max()) == int(row["visible_pieces"])
        assert row["split"] in ("train", "val")
    rows = {row["name"]: row for row in manifest}
    assert rows["twemoji__1f44b"]["licence"] == "CC-BY-4.0"
    assert rows["twemoji__1f44b"]["split"] == rows["twemoji__1f44b-1f3fd"]["split"]
    assert rows["synthetic__000000"]["split"] == "train"
    overlap = np.asarray(Image.open(out / "label" / "twemoji__1f44b.png"))
    assert overlap[5, 5] == 1 and overlap[20, 20] == 2

    log = {row["name"]: row for row in read_csv(out / "labels_log.csv")}
    assert log["twemoji__1f601"]["status"] == "dropped"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["twemoji"]["dropped_curation"] == 1 and stats["twemoji"]["kept"] == 4
    assert stats["synthetic"]["kept"] == 3
    assert "dropped" in result.output

    before = (out / "label" / "twemoji__1f44b.png").stat().st_mtime_ns
    again = runner.invoke(build_dataset, [*args[:-1], "5"])
    assert again.exit_code == 0, again.output
    assert "9 already done, 2 to label" in again.output
    assert (out / "label" / "twemoji__1f44b.png").stat().st_mtime_ns == before
    assert len(read_csv(out / "manifest.csv")) == 10

    changed = runner.invoke(build_dataset, [str(source), "--out", str(out), "--size", "64"])
    assert changed.exit_code == 2
    assert "built with other settings (size)" in changed.output


def test_no_curation_keeps_ambiguous_files(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    out = tmp_path / "ds"
    args = [str(source), "--out", str(out), "--size", "32", "--no-curate", "--workers", "2"]
    result = CliRunner().invoke(build_dataset, args)
    assert result.exit_code == 0, result.output
    assert len(read_csv(out / "manifest.csv")) == 5


def test_bad_inputs_exit_2_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(build_dataset, [str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2
    assert "nope: no such file or folder" in missing.output
    assert "Traceback" not in missing.output


def test_broken_svg_is_logged_and_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "broken.svg").write_text("plain text, no markup")
    shutil.copyfile(DATA / "svg_labels" / "overlap.svg", folder / "ok.svg")
    out = tmp_path / "ds"
    result = CliRunner().invoke(build_dataset, [str(folder), "--out", str(out), "--size", "32"])
    assert result.exit_code == 1
    log = {row["name"]: row for row in read_csv(out / "labels_log.csv")}
    assert log["mine__broken"]["status"] == "error"
    assert "broken.svg: not valid XML" in log["mine__broken"]["reason"]
    assert [row["name"] for row in read_csv(out / "manifest.csv")] == ["mine__ok"]


def test_fetch_sources_copies_local_folder(tmp_path: Path) -> None:
    local = tmp_path / "noto-emoji"
    (local / "svg").mkdir(parents=True)
    shutil.copyfile(DATA / "svg_labels" / "overlap.svg", local / "svg" / "emoji_u1f600.svg")
    out = tmp_path / "sources"
    result = CliRunner().invoke(
        fetch_sources, ["--out", str(out), "--local", str(local), "--no-registry"]
    )
    assert result.exit_code == 0, result.output
    info = json.loads((out / "noto-emoji" / "SOURCE.json").read_text())
    assert info["licence"] == "Apache-2.0" and info["files"] == 1
    opened = open_source(out / "noto-emoji")
    assert opened.name == "noto-emoji" and len(opened.files) == 1


def test_base_key_collapses_skin_tones_across_naming_schemes() -> None:
    assert base_key("emoji_u1f44b_1f3fb") == "u:1f44b"
    assert base_key("1f44b-1f3ff") == "u:1f44b"
    assert base_key("1F44B") == "u:1f44b"
    assert base_key("1f3c3-1f3fd-200d-2642-fe0f") == "u:1f3c3-200d-2642"
    siblings = ["raised-fist-default", "raised-fist-medium-dark", "dark-sunglasses"]
    assert base_key("raised-fist-medium-dark", siblings) == "u:270a"
    assert base_key("raised-fist-default", siblings) == "u:270a"
    assert base_key("dark-sunglasses", siblings) == "u:1f576"  # no "-default" sibling
    assert base_key("grinning-face") == "u:1f600"
    assert base_key("1st-place-medal") == "n:1st-place-medal"


def test_split_is_deterministic_and_near_the_fraction() -> None:
    keys = [f"u:{i:05x}" for i in range(4000)]
    splits = [split_of(k, 0.1) for k in keys]
    assert splits == [split_of(k, 0.1) for k in keys]
    assert 0.08 < splits.count("val") / len(splits) < 0.12
