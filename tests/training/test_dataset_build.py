"""build-dataset / fetch-sources end to end on the small fixtures, plus the split rules."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from training import dataset_cli
from training.dataset_cli import BuildConfig, build, build_dataset, collect_tasks, fetch_sources
from training.datasets import load_pair, read_records, sample_amodal
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


def test_build_keeps_amodal_masks_that_contain_every_visible_rank(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    for name in ("overlap", "squash", "clip_path", "use", "stroke_above_fill", "text"):
        shutil.copyfile(DATA / "svg_labels" / f"{name}.svg", folder / f"{name}.svg")
    psd = DATA / "psd_labels" / "2layers.psd"
    out = tmp_path / "ds"
    args = [str(folder), str(psd), "--out", str(out), "--size", "48", "--synthetic", "2"]
    result = CliRunner().invoke(build_dataset, args)
    assert result.exit_code == 0, result.output
    records = read_records(out, None)
    assert len(records) == 6 + 1 + 2
    for record in records:
        _, label = load_pair(out, record.name)
        amodal = sample_amodal(out, record.name)
        if record.name.startswith("psd_labels__"):
            assert amodal is None  # PSD samples carry none
            continue
        assert amodal is not None and amodal.shape == label.shape
        assert amodal.count == int(label.max()), record.name
        for rank in range(1, amodal.count + 1):
            assert not ((label == rank) & ~amodal.mask(rank)).any(), (record.name, rank)
    squash = sample_amodal(out, "mine__squash")
    _, label = load_pair(out, "mine__squash")
    first = squash.mask(1)
    assert first.sum() > (label == 1).sum()  # the squashed run's full extent, not only visible
    assert {r.source for r in records} == {"mine", "psd_labels", "synthetic"}


def test_build_order_interleaves_sources_and_a_partial_build_is_readable(
    tmp_path: Path, monkeypatch
) -> None:
    first = make_source(tmp_path)
    second = tmp_path / "fxemoji"
    (second / "svg").mkdir(parents=True)
    for i, src in enumerate(("overlap", "squash", "use", "clip_path")):
        shutil.copyfile(DATA / "svg_labels" / f"{src}.svg", second / "svg" / f"icon{i}.svg")
    config = BuildConfig(size=32)
    order = collect_tasks([first, second], 3, config).tasks
    assert [t.source for t in order[:3]] == ["twemoji", "fxemoji", "synthetic"]
    assert collect_tasks([first, second], 3, config).tasks == order  # deterministic
    assert sorted(t.name for t in order) == sorted({t.name for t in order})

    monkeypatch.setattr(dataset_cli, "FLUSH_EVERY", 3)
    out = tmp_path / "ds"
    seen: list[list[str]] = []

    def stop_after_first_flush(line: str) -> None:
        if line.startswith("["):
            seen.append([r.name for r in read_records(out, None)])
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build([first, second], out, config, synthetic=3, report=stop_after_first_flush)
    partial = read_records(out, None)
    assert partial and len(partial) < 12 and seen == [[r.name for r in partial]]
    for record in partial:  # every listed sample is complete
        load_pair(out, record.name)
        assert sample_amodal(out, record.name) is not None
    stats = build([first, second], out, config, synthetic=3, report=lambda line: None)
    assert sum(s["kept"] for s in stats.values()) == len(read_records(out, None)) == 11
    assert (out / "READY").is_file() and "fxemoji" in (out / "READY").read_text()


def test_dropped_samples_are_written_aside_and_readable_on_request(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    out = tmp_path / "ds"
    result = CliRunner().invoke(build_dataset, [str(source), "--out", str(out), "--size", "32"])
    assert result.exit_code == 0, result.output
    dropped = read_csv(out / "manifest_dropped.csv")
    assert [r["name"] for r in dropped] == ["twemoji__1f601"]
    assert int(dropped[0]["ambiguous_contact"]) >= 1
    assert "twemoji__1f601" not in {r.name for r in read_records(out, None)}
    contact = int(dropped[0]["ambiguous_contact"])
    everything = {r.name for r in read_records(out, None, max_contact=contact)}
    assert "twemoji__1f601" in everything
    assert "twemoji__1f601" not in {r.name for r in read_records(out, None, max_contact=0)}
    load_pair(out, "twemoji__1f601")


def heavy_svg(pieces: int) -> str:
    rects = "".join(
        f'<rect x="{i % 30}" y="{i // 30}" width="4" height="4" fill="#{(i * 97) % 4096:03x}"/>'
        for i in range(pieces)
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40">{rects}</svg>'


def test_time_and_piece_guards_skip_and_log_giant_files(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "giant.svg").write_text(heavy_svg(400))
    shutil.copyfile(DATA / "svg_labels" / "overlap.svg", folder / "small.svg")
    out = tmp_path / "ds"
    args = [str(folder), "--out", str(out), "--size", "64", "--time-limit", "0.05"]
    result = CliRunner().invoke(build_dataset, args)
    assert result.exit_code == 0, result.output
    log = {row["name"]: row for row in read_csv(out / "labels_log.csv")}
    assert log["mine__giant"]["status"] == "skipped"
    assert "time limit of 0.05 s" in log["mine__giant"]["reason"]
    assert log["mine__small"]["status"] == "ok" and float(log["mine__small"]["seconds"]) >= 0
    assert [r["name"] for r in read_csv(out / "manifest.csv")] == ["mine__small"]

    out2 = tmp_path / "ds2"
    args = [str(folder), "--out", str(out2), "--size", "64", "--max-pieces", "100"]
    result = CliRunner().invoke(build_dataset, args)
    assert result.exit_code == 0, result.output
    log = {row["name"]: row for row in read_csv(out2 / "labels_log.csv")}
    assert log["mine__giant"]["status"] == "skipped"
    assert "800 possible pieces" in log["mine__giant"]["reason"]
    stats = json.loads((out2 / "stats.json").read_text())
    assert stats["mine"]["skipped"] == 1 and stats["mine"]["kept"] == 1


def test_a_build_from_before_the_caps_resumes_only_with_its_own_settings(tmp_path: Path) -> None:
    source = make_source(tmp_path)
    out = tmp_path / "ds"
    out.mkdir()
    old = {k: v for k, v in dataclasses.asdict(BuildConfig(size=32)).items()}
    for key in ("max_variants", "max_pieces", "time_limit"):
        del old[key]
    (out / "build.json").write_text(json.dumps(old))
    runner = CliRunner()
    args = [str(source), "--out", str(out), "--size", "32"]
    refused = runner.invoke(build_dataset, args)
    assert refused.exit_code == 2
    assert "other settings (max_pieces, max_variants, time_limit)" in refused.output
    legacy = [*args, "--max-variants", "0", "--max-pieces", "0", "--time-limit", "0"]
    assert runner.invoke(build_dataset, legacy).exit_code == 0
