"""PSD, ORA and PNG-stack writers, read back by psd-tools and by independent readers (Pillow, zip+XML)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from decomposer import save
from decomposer.composite import composite_layers
from decomposer.pixels import index_map_to_gray8
from decomposer.types import Decomposition, Layer
from decomposer.verify import read_layers, verify_output
from decomposer.writers import default_output_path, format_for_path, write_decomposition
from decomposer.writers.ora import write_ora
from decomposer.writers.png_stack import write_png_stack
from decomposer.writers.psd import (
    INDEX_MAP_LAYER_NAME,
    ORIGINAL_LAYER_NAME,
    matte_on_white,
    write_psd,
)

WIDTH, HEIGHT = 64, 48


def _disc(size: int, rgb: tuple[int, int, int]) -> np.ndarray:
    """An anti-aliased disc (semi-transparent rim) as RGBA (size, size, 4)."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    distance = np.hypot(xx - size / 2, yy - size / 2)
    alpha = np.clip((size / 2 - distance) * 255, 0, 255).astype(np.uint8)
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., :3] = rgb
    rgba[..., 3] = alpha
    return rgba


def _sample(transparent_back: bool = False, names: list[str] | None = None) -> Decomposition:
    """Three layers (opaque or partly transparent back, AA disc, 50% rectangle) and their composite."""
    back = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    back[..., 0] = np.linspace(0, 255, WIDTH, dtype=np.uint8)[None, :]
    back[..., 1] = 90
    back[..., 2] = np.linspace(255, 0, HEIGHT, dtype=np.uint8)[:, None]
    back[..., 3] = 255
    if transparent_back:
        back[:, :12, 3] = 0
        back[:, 12:16, 3] = 100
    rect = np.zeros((20, 34, 4), np.uint8)
    rect[...] = (250, 220, 30, 128)
    names = names or ["Layer 1 (back)", "Layer 2", "Layer 3 (front)"]
    layers = [
        Layer(names[0], back, (0, 0), index=0.1),
        Layer(names[1], _disc(21, (20, 160, 60)), (9, 7), invented_fraction=0.25, index=0.5),
        Layer(names[2], rect, (30, 28), index=0.9),
    ]
    source = np.asarray(composite_layers(layers, (WIDTH, HEIGHT)))
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    index_map = (xx / WIDTH + yy / HEIGHT).astype(np.float32)
    return Decomposition(layers, index_map, (WIDTH, HEIGHT), source)


def _assert_same_layers(read: list[Layer], expected: list[Layer]) -> None:
    assert [layer.name for layer in read] == [layer.name for layer in expected]
    for got, want in zip(read, expected, strict=True):
        assert tuple(got.offset) == tuple(want.offset), got.name
        np.testing.assert_array_equal(got.rgba, want.rgba, err_msg=got.name)


# ---------------------------------------------------------------- PSD


def test_psd_read_back_by_psd_tools(tmp_path: Path) -> None:
    dec = _sample()
    path = write_psd(dec, tmp_path / "art.psd")
    psd = PSDImage.open(path)
    assert (psd.width, psd.height) == (WIDTH, HEIGHT)
    assert psd.channels == 4 and psd.color_mode.name == "RGB"
    names = [layer.name for layer in psd]
    assert names == [
        "Layer 1 (back)",
        "Layer 2",
        "Layer 3 (front)",
        ORIGINAL_LAYER_NAME,
        INDEX_MAP_LAYER_NAME,
    ]
    assert [layer.visible for layer in psd] == [True, True, True, False, False]
    for item, want in zip(list(psd)[:3], dec.layers, strict=True):
        assert (item.left, item.top) == want.offset
        assert (item.width, item.height) == (want.rgba.shape[1], want.rgba.shape[0])
        np.testing.assert_array_equal(np.asarray(item.topil()), want.rgba)
        assert item.opacity == 255 and item.blend_mode.name == "NORMAL"
    np.testing.assert_array_equal(np.asarray(psd[3].topil()), dec.source_rgba)
    gray = np.asarray(psd[4].topil())
    np.testing.assert_array_equal(gray[..., 0], index_map_to_gray8(dec.index_map))
    assert gray[..., 0].min() == 0 and gray[..., 0].max() == 255
    # Every layer and the merged image are RLE-compressed.
    records = psd._record.layer_and_mask_information.layer_info.channel_image_data
    assert all(channel.compression.name == "RLE" for layer in records for channel in layer)
    assert psd._record.image_data.compression.name == "RLE"
    # Negative count: the 4th document channel is the merged transparency, not a spare alpha.
    assert psd._record.layer_and_mask_information.layer_info.layer_count == -5
    # The merged image is the real composite: psd-tools un-mattes it to within rounding.
    merged = np.asarray(psd.composite())
    np.testing.assert_array_equal(merged[..., 3], dec.source_rgba[..., 3])
    opaque = dec.source_rgba[..., 3] == 255
    np.testing.assert_array_equal(merged[opaque], dec.source_rgba[opaque])
    # The visible read-back layers recompose the input bit-exactly.
    back = read_layers(path)
    np.testing.assert_array_equal(
        composite_layers(back.visible_layers(), back.canvas_size), dec.source_rgba
    )
    assert verify_output(path, dec.source_rgba).ok


def test_psd_read_back_by_pillow(tmp_path: Path) -> None:
    dec = _sample()
    path = write_psd(dec, tmp_path / "art.psd")
    with Image.open(path) as image:
        assert image.format == "PSD" and image.mode == "RGBA" and image.size == (WIDTH, HEIGHT)
        # Pillow reads the stored merged image raw: Photoshop's convention, matted on white.
        np.testing.assert_array_equal(np.asarray(image), matte_on_white(dec.source_rgba))
        infos = image.layers
        assert [info[0] for info in infos] == [
            "Layer 1 (back)",
            "Layer 2",
            "Layer 3 (front)",
            ORIGINAL_LAYER_NAME,
            INDEX_MAP_LAYER_NAME,
        ]
        for info, want in zip(infos[:3], dec.layers, strict=True):
            assert info[1] == "RGBA" and info[2] == want.bbox
        # Pillow opens a layered PSD positioned on frame 1 showing the merged image, so seek(1)
        # is a no-op until another frame was visited: read the layers top -> bottom.
        for number in range(len(infos), 0, -1):
            image.seek(number)
            if number > len(dec.layers):
                continue
            want = dec.layers[number - 1]
            left, top, right, bottom = want.bbox
            pixels = np.asarray(image)[top:bottom, left:right]
            # Pillow 13 fills bands in RGBA order from the file's channel order, which is
            # alpha-first (-1, 0, 1, 2) in our files as in Photoshop's own; accept a fixed Pillow.
            assert np.array_equal(pixels, want.rgba) or np.array_equal(
                pixels[..., [1, 2, 3, 0]], want.rgba
            ), want.name


def test_psd_unicode_names_and_no_extras(tmp_path: Path) -> None:
    names = ["背景 Layer 1 (back)", "Слой 2 — ёжик", "Layer 3 (front) 🎨"]
    dec = _sample(names=names)
    path = write_psd(dec, tmp_path / "ünïcode.psd", extras=False)
    psd = PSDImage.open(path)
    assert [layer.name for layer in psd] == names
    with Image.open(path) as image:
        assert len(image.layers) == 3
    _assert_same_layers(read_layers(path).layers, dec.layers)


def test_psd_rgba_input_keeps_transparency(tmp_path: Path) -> None:
    dec = _sample(transparent_back=True)
    assert (dec.source_rgba[..., 3] == 0).any()
    path = write_psd(dec, tmp_path / "alpha.psd")
    psd = PSDImage.open(path)
    merged = np.asarray(psd.composite())
    np.testing.assert_array_equal(merged[..., 3], dec.source_rgba[..., 3])
    result = verify_output(path, dec.source_rgba)
    assert result.ok and result.layers == 3, result.message


# ---------------------------------------------------------------- ORA


def test_ora_structure_and_read_back_with_zip_xml_pillow(tmp_path: Path) -> None:
    dec = _sample(names=["Layer 1 (back)", "Слой 2", "Layer 3 (front)"])
    path = write_ora(dec, tmp_path / "art.ora")
    with zipfile.ZipFile(path) as archive:
        first = archive.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert archive.read("mimetype") == b"image/openraster"
        assert path.read_bytes()[30:38] == b"mimetype"  # name right after the first local header
        names = set(archive.namelist())
        assert {"stack.xml", "mergedimage.png", "Thumbnails/thumbnail.png"} <= names
        root = ET.fromstring(archive.read("stack.xml"))
        assert (root.get("w"), root.get("h")) == (str(WIDTH), str(HEIGHT))
        nodes = root.find("stack").findall("layer")
        # stack.xml lists the top layer first.
        assert [node.get("name") for node in nodes] == [
            INDEX_MAP_LAYER_NAME,
            ORIGINAL_LAYER_NAME,
            "Layer 3 (front)",
            "Слой 2",
            "Layer 1 (back)",
        ]
        assert [node.get("visibility") for node in nodes] == [
            "hidden",
            "hidden",
            "visible",
            "visible",
            "visible",
        ]
        for node, want in zip(nodes[2:], reversed(dec.layers), strict=True):
            assert (int(node.get("x")), int(node.get("y"))) == want.offset
            with archive.open(node.get("src")) as handle, Image.open(handle) as layer_image:
                assert layer_image.format == "PNG"
                np.testing.assert_array_equal(np.asarray(layer_image.convert("RGBA")), want.rgba)
        with archive.open("mergedimage.png") as handle, Image.open(handle) as merged:
            np.testing.assert_array_equal(np.asarray(merged.convert("RGBA")), dec.source_rgba)
        with archive.open("Thumbnails/thumbnail.png") as handle, Image.open(handle) as thumb:
            assert max(thumb.size) <= 256
    back = read_layers(path)
    _assert_same_layers(back.visible_layers(), dec.layers)
    assert verify_output(path, dec.source_rgba).ok


# ---------------------------------------------------------------- PNG stack


def test_png_stack_folder_manifest_and_pixels(tmp_path: Path) -> None:
    dec = _sample(transparent_back=True)
    folder = write_png_stack(dec, tmp_path / "art_layers")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["canvas"] == {"width": WIDTH, "height": HEIGHT}
    assert manifest["order"] == "bottom-to-top"
    assert [entry["file"] for entry in manifest["layers"]] == [
        "00_back.png",
        "01_layer.png",
        "02_front.png",
    ]
    for entry, want in zip(manifest["layers"], dec.layers, strict=True):
        assert entry["name"] == want.name
        assert (entry["x"], entry["y"]) == want.offset
        with Image.open(folder / entry["file"]) as image:
            np.testing.assert_array_equal(np.asarray(image.convert("RGBA")), want.rgba)
    assert manifest["layers"][1]["invented_fraction"] == pytest.approx(0.25)
    with Image.open(folder / "index_map.png") as image:
        assert np.asarray(image).max() == 65535
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art_layers"]  # no temp folders left
    assert verify_output(folder, dec.source_rgba).ok


def test_png_stack_replaces_an_older_stack(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    write_png_stack(_sample(), folder)
    (folder / "stale.txt").write_text("from an old run")
    write_png_stack(_sample(transparent_back=True), folder, extras=False)
    assert not (folder / "stale.txt").exists() and not (folder / "original.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---------------------------------------------------------------- dispatch, atomicity, verify


@pytest.mark.parametrize(
    ("name", "fmt", "magic"), [("a.psd", "psd", b"8BPS"), ("a.ora", "ora", b"PK")]
)
def test_write_decomposition_dispatches_by_suffix(
    tmp_path: Path, name: str, fmt: str, magic: bytes
) -> None:
    dec = _sample()
    path = save(dec, tmp_path / name)
    assert format_for_path(path) == fmt and path.read_bytes()[:4].startswith(magic)
    folder = write_decomposition(dec, tmp_path / "stack", format="png")
    assert (folder / "manifest.json").is_file()
    assert default_output_path(Path("x/art.png"), "png") == Path("x/art_layers")
    assert default_output_path(Path("x/art.png")) == Path("x/art.psd")


def test_unknown_suffix_is_an_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"art\.xyz"):
        write_decomposition(_sample(), tmp_path / "art.xyz")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    dec = _sample()
    target = write_psd(dec, tmp_path / "art.psd")
    stack = write_png_stack(dec, tmp_path / "art_layers")
    before = target.read_bytes()
    # A bad index map fails the PNG stack midway, after the layer PNGs are already written.
    broken = Decomposition(dec.layers, np.zeros((2, 3, 4)), dec.canvas_size, dec.source_rgba)
    for writer, name in (
        (write_psd, "art.psd"),
        (write_ora, "new.ora"),
        (write_png_stack, "art_layers"),
        (write_png_stack, "new_layers"),
    ):
        with pytest.raises((ValueError, TypeError)):
            writer(broken, tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art.psd", "art_layers"]
    assert target.read_bytes() == before
    assert verify_output(stack, dec.source_rgba).ok


def test_verify_reports_a_mismatch(tmp_path: Path) -> None:
    dec = _sample()
    path = write_ora(dec, tmp_path / "art.ora")
    altered = dec.source_rgba.copy()
    altered[5, 5, 1] ^= 0x10
    altered[6, 6, 2] ^= 0x03
    result = verify_output(path, altered)
    assert not result.ok and result.mismatched_pixels == 2 and result.max_difference == 16
    assert "art.ora" in result.message and "2 pixels differ" in result.message
