"""SVG and SVGZ inputs: rendered with resvg (DejaVu fonts) at --svg-size, from the API, the CLI
and the batch runner; broken SVG is a one-line error naming the file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from decomposer import DecomposeOptions, ImageLoadError, decompose, load_image
from decomposer.cli import main
from decomposer.svg_render import dejavu_fonts
from decomposer.verify import read_layers

ROOT = Path(__file__).resolve().parents[2]
HOUSE_SVG = ROOT / "examples" / "house.svg"
TEXT_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="300" height="100" viewBox="0 0 300 100">
  <rect width="300" height="100" fill="#fdf6e3"/>
  <rect x="10" y="10" width="120" height="80" fill="#268bd2"/>
  <text x="150" y="70" font-family="sans-serif" font-size="48" fill="#dc322f">Hi!</text>
</svg>
"""
BROKEN_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect'


def test_good_svg_keeps_its_aspect_at_the_requested_size() -> None:
    loaded = load_image(HOUSE_SVG, svg_size=320)
    assert loaded.size == (320, 240) and loaded.path == HOUSE_SVG
    # the sky (a flat rect) comes out exactly, opaque
    assert tuple(loaded.rgba[5, 5]) == (0xBF, 0xE3, 0xF5, 255)
    assert load_image(HOUSE_SVG).size == (1024, 768)  # the default long side


def test_svgz_and_sniffed_svg_without_suffix(tmp_path: Path) -> None:
    packed = tmp_path / "house.svgz"
    packed.write_bytes(gzip.compress(HOUSE_SVG.read_bytes()))
    bare = tmp_path / "upload"  # no suffix, as the bridge stores uploads
    bare.write_bytes(HOUSE_SVG.read_bytes())
    reference = load_image(HOUSE_SVG, svg_size=200).rgba
    assert np.array_equal(load_image(packed, svg_size=200).rgba, reference)
    assert np.array_equal(load_image(bare, svg_size=200).rgba, reference)


@pytest.mark.skipif(not dejavu_fonts(), reason="DejaVu fonts are not installed")
def test_text_is_rendered_with_dejavu_and_decomposed(tmp_path: Path) -> None:
    path = tmp_path / "text.svg"
    path.write_text(TEXT_SVG)
    rgba = load_image(path, svg_size=300).rgba
    red = (rgba[..., 0] > 180) & (rgba[..., 1] < 100) & (rgba[..., 2] < 100)
    assert red[:, 150:].sum() > 300, "the text must not vanish"
    dec = decompose(path, DecomposeOptions(layers=3, svg_size=300), index_map=red * 1.0)
    assert dec.canvas_size == (300, 100) and (dec.composite() == rgba).all()


def test_broken_and_unsized_svg_raise_one_line_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.svg"
    broken.write_text(BROKEN_SVG)
    unsized = tmp_path / "unsized.svg"
    unsized.write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect width="5" height="5"/></svg>')
    notsvg = tmp_path / "page.svg"
    notsvg.write_text("<html><body>hello</body></html>")
    for path, words in ((broken, "not a valid SVG"), (unsized, "no usable width"), (notsvg, "SVG")):
        with pytest.raises(ImageLoadError) as info:
            load_image(path)
        message = str(info.value)
        assert message.startswith(path.name) and words in message and "\n" not in message


def test_entities_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cr3t")
    path = tmp_path / "xxe.svg"
    path.write_text(
        f'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><title>&x;</title>'
        '<rect width="20" height="10" fill="#123456"/></svg>'
    )
    try:  # refused (resvg does not resolve external entities) or drawn without them
        assert tuple(load_image(path, svg_size=20).rgba[5, 5]) == (0x12, 0x34, 0x56, 255)
    except ImageLoadError as exc:
        assert str(exc).startswith("xxe.svg") and "s3cr3t" not in str(exc)


def test_oversized_rendering_is_refused_before_rendering(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="over the limit"):
        load_image(HOUSE_SVG, svg_size=4000, max_pixels=1_000_000)


def _run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_cli_good_broken_and_text_svg(tmp_path: Path) -> None:
    out = tmp_path / "house.psd"
    result = _run(HOUSE_SVG, "-o", out, "--layers", "4", "--model", "random:tiny", "--svg-size", "256",
                  "--verify")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_layers(out).canvas_size == (256, 192)
    broken = tmp_path / "broken.svg"
    broken.write_text(BROKEN_SVG)
    result = _run(broken, "-o", tmp_path / "broken.psd", "--model", "random:tiny")
    assert result.exit_code == 2 and "broken.svg: not a valid SVG" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "broken.psd").exists()
    text = tmp_path / "text.svg"
    text.write_text(TEXT_SVG)
    result = _run(text, "-o", tmp_path / "text.svg.ora", "--model", "random:tiny", "--svg-size", "300",
                  "--layers", "3")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert read_layers(tmp_path / "text.svg.ora").canvas_size == (300, 100)


def test_batch_folder_takes_svg_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "house.svg").write_bytes(HOUSE_SVG.read_bytes())
    (folder / "text.svgz").write_bytes(gzip.compress(TEXT_SVG.encode()))
    (folder / "broken.svg").write_text(BROKEN_SVG)
    out = tmp_path / "out"
    result = _run(folder, "-o", out, "--model", "random:tiny", "--layers", "3", "--svg-size", "128")
    assert result.exit_code == 1, result.output  # one file failed, the others are done
    assert read_layers(out / "house.psd").canvas_size == (128, 96)
    assert read_layers(out / "text.psd").canvas_size == (128, 43)
    assert "broken.svg: not a valid SVG" in result.output and not (out / "broken.psd").exists()
