"""The `decompose` CLI on one file: an untrained `random:tiny` network, real writers, real readers."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image, ImageDraw
from psd_tools import PSDImage

from decomposer.cli import main
from decomposer.verify import read_layers, verify_output
from model import create_model, save_pretrained

COLOURS = [
    (230, 57, 70),
    (29, 53, 87),
    (69, 123, 157),
    (244, 162, 97),
    (42, 157, 143),
    (255, 214, 10),
]


def make_art(path: Path, size: tuple[int, int] = (96, 72), alpha: bool = False) -> Path:
    """A flat illustration with 7 colour regions (background + 6 overlapping shapes)."""
    image = Image.new("RGBA", size, (250, 248, 240, 0 if alpha else 255))
    draw = ImageDraw.Draw(image)
    w, h = size
    boxes = [
        (2, 2, w // 2, h // 2),
        (w // 3, h // 4, w - 4, h - 10),
        (w // 8, h // 2, w // 2, h - 3),
        (w // 2, 3, w - 2, h // 3),
        (w // 4, h // 3, w // 2 + 8, h // 2 + 10),
        (w // 2 + 5, h // 2, w - 12, h - 2),
    ]
    for number, (box, colour) in enumerate(zip(boxes, COLOURS, strict=True)):
        if number % 2:
            draw.ellipse(box, fill=colour + (255,))
        else:
            draw.rectangle(box, fill=colour + (255,))
    if not alpha:
        image = image.convert("RGB")
    image.save(path)
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_help_documents_every_option_with_examples() -> None:
    result = run("--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output and "decompose art.png -o art.psd" in result.output
    options = [p for p in main.params if isinstance(p, click.Option)]
    assert len(options) >= 18
    for option in options:
        if option.name != "help":
            assert option.help, f"--{option.name} has no help text"
            assert option.opts[-1] in result.output


def test_single_file_default_output_six_layers(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png")
    result = run(art, "--model", "random:tiny", "--layers", "6")
    assert result.exit_code == 0, result.output
    out = tmp_path / "art.psd"
    assert f"-> {out}: 6 layers" in result.stderr
    psd = PSDImage.open(out)
    names = [layer.name for layer in psd]
    assert names[:6] == [
        "Layer 1 (back)",
        "Layer 2",
        "Layer 3",
        "Layer 4",
        "Layer 5",
        "Layer 6 (front)",
    ]
    assert len(names) == 8 and [layer.visible for layer in psd][6:] == [False, False]
    source = np.asarray(Image.open(art).convert("RGBA"))
    assert verify_output(out, source).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art.png", "art.psd"]


def test_json_verify_depth_out_ora_without_extras(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png", alpha=True)
    out = tmp_path / "result" / "art.ora"
    result = run(
        art, "-o", out, "--model", "random:tiny", "-n", "4", "--verify", "--json", "--no-extras",
        "--complete", "harmonic", "--depth-out", tmp_path / "map.npy", "--timings",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "done" and data["verified"] is True and data["layers"] == 4
    assert data["output"] == str(out) and data["depth_out"] == str(tmp_path / "map.npy")
    assert {"load", "predict", "regions", "write", "verify"} <= set(data["timings"])
    assert "predict" in result.stderr  # --timings table goes to stderr with --json
    back = read_layers(out)
    assert len(back.layers) == 4 and all(back.visible)
    index_map = np.load(tmp_path / "map.npy")
    assert index_map.dtype == np.float32 and index_map.shape == (72, 96)


def test_png_stack_and_depth_png_and_output_folder(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png")
    (tmp_path / "outdir").mkdir()
    result = run(art, "--format", "png", "-o", tmp_path / "outdir", "--model", "random:tiny", "--verify",
                 "--depth-out", tmp_path / "map.png", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""
    manifest = json.loads((tmp_path / "outdir" / "art_layers" / "manifest.json").read_text())
    assert manifest["layers"][0]["file"] == "00_back.png" and len(manifest["layers"]) == 6
    with Image.open(tmp_path / "map.png") as depth:
        values = np.asarray(depth)
    assert values.dtype == np.uint16 and values.min() == 0 and values.max() == 65535


def _corrupt_inputs(tmp_path: Path) -> list[tuple[Path, str]]:
    garbage = tmp_path / "garbage [v2].png"  # rich markup-like name must print as is
    garbage.write_bytes(b"this is not an image at all")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(make_art(tmp_path / "full.png").read_bytes()[:300])
    (tmp_path / "full.png").unlink()
    return [
        (garbage, "garbage [v2].png"),
        (truncated, "truncated.png"),
        (tmp_path / "missing.png", "missing.png"),
    ]


def test_bad_inputs_give_one_line_error_exit_2_and_no_output(tmp_path: Path) -> None:
    for path, name in _corrupt_inputs(tmp_path):
        result = run(path, "--model", "random:tiny")
        assert result.exit_code == 2, result.output
        assert name in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert not path.with_suffix(".psd").exists()
    big = make_art(tmp_path / "big.png")
    result = run(
        big, "--model", "random:tiny", "--max-pixels", "1000", "-o", tmp_path / "big_out.psd"
    )
    assert result.exit_code == 2 and "big.png" in result.stderr
    assert not (tmp_path / "big_out.psd").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--layers", "0"], "positive"),
        (["--layers", "many"], "auto"),
        (["-o", "x.psd", "--format", "ora"], "does not match"),
        (["-o", "x.jpg"], "suffix"),
        (["--depth-out", "map.tif"], ".png or .npy"),
        (["--model", "no/such/model", "--ordering", "median"], "no/such/model"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    art = make_art(tmp_path / "art.png")
    result = run(art, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art.png"]


def test_layered_psd_input_is_decoded_and_never_overwritten(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png")
    assert run(art, "--model", "random:tiny", "-n", "3").exit_code == 0
    psd = tmp_path / "art.psd"
    before = psd.read_bytes()
    clash = run(psd, "--model", "random:tiny")
    assert clash.exit_code == 2 and "overwrite the input" in clash.stderr
    assert psd.read_bytes() == before
    again = run(
        psd, "-o", tmp_path / "again.ora", "--model", "random:tiny", "-n", "3", "--verify", "--json"
    )
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["verified"] is True and data["layers"] == 3


def test_unwritable_report_is_a_one_line_error_and_exit_1(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png")
    (tmp_path / "file").write_text("a file, not a folder")
    result = run(art, "--model", "random:tiny", "-n", "2", "--report", tmp_path / "file" / "r.json")
    assert result.exit_code == 1
    assert "cannot write the report" in result.stderr and "Traceback" not in result.output
    assert (tmp_path / "art.psd").is_file()


def test_a_bare_preset_name_is_refused_and_random_weights_warn(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png")
    refused = run(art, "-o", tmp_path / "a.psd", "--model", "tiny")  # even if graph ignores it
    assert refused.exit_code == 2
    line = refused.stderr.strip()
    assert "\n" not in line and line.startswith("error: tiny: no shipped weights")
    assert "random:tiny for an untrained network" in line
    assert not (tmp_path / "a.psd").exists()
    warned = run(
        art, "-o", tmp_path / "b.psd", "--model", "random:tiny", "-n", "2", "--ordering", "median"
    )
    assert warned.exit_code == 0, warned.output
    assert "warning: random:tiny: untrained network with random weights" in warned.stderr
    assert "RandomWeightsWarning" not in warned.stderr  # one plain line, not Python's format
    assert "--model" in run("--help").output and "random:PRESET" in run("--help").output


def test_ordering_option_graph_by_default_median_runs_the_network(tmp_path: Path) -> None:
    art = make_art(tmp_path / "art.png")
    help_text = run("--help").output
    assert "--ordering [graph|median]" in help_text and "learned occlusion orderer" in help_text
    # the default (graph) never loads the network: a real model is only noted (with -v)...
    weights = tmp_path / "w"
    save_pretrained(create_model("tiny"), weights)
    result = run(art, "-o", tmp_path / "g.psd", "--model", weights, "--json", "-v")
    assert result.exit_code == 0, result.output
    assert "--model is not used" in result.output
    doc = json.loads(result.output[result.output.index("{") :])
    assert doc["layers"] == 6
    # ...but one that does not exist is an error with either ordering, and nothing is written
    for ordering in ("graph", "median"):
        result = run(
            art, "-o", tmp_path / "m.psd", "--model", tmp_path / "nope", "--ordering", ordering
        )
        assert result.exit_code == 2 and "nope: no such model" in result.output
        assert not (tmp_path / "m.psd").exists()
    result = run(art, "-o", tmp_path / "m.psd", "--model", "random:tiny", "--ordering", "median")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m.psd").is_file()
    result = run(art, "--ordering", "random")
    assert result.exit_code == 2 and "random" in result.output
