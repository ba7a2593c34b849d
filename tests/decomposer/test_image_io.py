"""Image input: formats, conversions to 8-bit sRGB RGBA, pixel limit, bad files, PSD via composite."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

from decomposer.errors import ImageLoadError
from decomposer.image_io import flatten_alpha, load_image

PSD_DIR = Path(__file__).resolve().parents[1] / "data" / "psd"


def _art(h: int = 24, w: int = 32) -> np.ndarray:
    """RGB uint8 (h, w, 3) with four flat quadrants (exact in lossless formats)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (200, 30, 40)
    img[: h // 2, w // 2 :] = (20, 180, 60)
    img[h // 2 :, : w // 2] = (30, 40, 220)
    img[h // 2 :, w // 2 :] = (250, 240, 10)
    return img


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_formats_load_exactly(tmp_path: Path, suffix: str) -> None:
    art = _art()
    path = tmp_path / f"art{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(art).save(path, **options)
    loaded = load_image(path)
    assert loaded.rgba.dtype == np.uint8 and loaded.rgba.shape == (24, 32, 4)
    assert (loaded.rgba[..., :3] == art).all()
    assert (loaded.rgba[..., 3] == 255).all() and not loaded.has_alpha
    assert loaded.path == path and loaded.size == (32, 24)


def test_jpeg_loads_close_to_source(tmp_path: Path) -> None:
    art = _art(64, 64)
    path = tmp_path / "art.jpg"
    Image.fromarray(art).save(path, quality=95)
    loaded = load_image(path)
    assert loaded.rgba.shape == (64, 64, 4)
    assert np.abs(loaded.rgba[..., :3].astype(int) - art).mean() < 4


def test_transparent_png_keeps_alpha(tmp_path: Path) -> None:
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[2:8, 3:9] = (10, 200, 30, 255)
    rgba[2:8, 9] = (10, 200, 30, 128)
    path = tmp_path / "sprite.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = load_image(path)
    assert loaded.has_alpha
    assert (loaded.rgba == rgba).all()


def test_palette_with_transparency_becomes_rgba(tmp_path: Path) -> None:
    pal = Image.new("P", (6, 4), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [0] * 759)
    pal.putpixel((0, 0), 2)
    pal.putpixel((5, 3), 0)
    path = tmp_path / "pal.png"
    pal.save(path, transparency=0)
    loaded = load_image(path)
    assert loaded.has_alpha
    assert tuple(loaded.rgba[1, 1]) == (255, 0, 0, 255)
    assert tuple(loaded.rgba[0, 0]) == (0, 0, 255, 255)
    assert loaded.rgba[3, 5, 3] == 0


def test_grayscale_and_grayscale_alpha(tmp_path: Path) -> None:
    grey = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(grey, "L").save(tmp_path / "g.png")
    loaded = load_image(tmp_path / "g.png")
    assert (loaded.rgba[..., 0] == grey).all() and (loaded.rgba[..., 2] == grey).all()
    la = np.stack([grey, np.full_like(grey, 77)], axis=-1)
    Image.fromarray(la, "LA").save(tmp_path / "ga.png")
    loaded = load_image(tmp_path / "ga.png")
    assert (loaded.rgba[..., 1] == grey).all() and (loaded.rgba[..., 3] == 77).all()
    assert loaded.has_alpha


def test_16bit_grayscale_scaled_to_8bit(tmp_path: Path) -> None:
    data = np.array([[0, 257 * 100, 65535, 257 * 7]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(data).save(path)
    loaded = load_image(path)
    assert list(loaded.rgba[0, :, 0]) == [0, 100, 255, 7]
    assert any("16-bit" in note for note in loaded.warnings)


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk_converted_to_rgb(tmp_path: Path, suffix: str) -> None:
    cmyk = Image.new("CMYK", (8, 8), (255, 0, 0, 0))  # pure cyan ink
    path = tmp_path / f"cmyk{suffix}"
    cmyk.save(path)
    loaded = load_image(path)
    r, g, b, a = (int(x) for x in loaded.rgba[4, 4])
    assert r < 40 and g > 215 and b > 215 and a == 255


def test_exif_orientation_applied(tmp_path: Path) -> None:
    art = np.zeros((4, 6, 3), np.uint8)
    art[0, 0] = (255, 0, 0)  # red top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90° clockwise for display
    path = tmp_path / "rotated.png"
    Image.fromarray(art).save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.rgba.shape == (6, 4, 4)
    assert tuple(loaded.rgba[0, 3, :3]) == (255, 0, 0)  # now top-right


def test_animated_gif_first_frame_with_warning(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (5, 5), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    loaded = load_image(path)
    assert tuple(loaded.rgba[2, 2]) == (255, 0, 0, 255)
    assert any("anim.gif" in n and "first frame" in n and "3 frames" in n for n in loaded.warnings)


def test_in_memory_inputs() -> None:
    art = _art(5, 7)
    from_array = load_image(art)
    assert (from_array.rgba[..., :3] == art).all() and from_array.path is None
    from_pil = load_image(Image.fromarray(art).quantize(colors=4))
    assert (from_pil.rgba[..., :3] == art).all()
    grey = load_image(art[..., 0])
    assert (grey.rgba[..., 1] == art[..., 0]).all()
    with pytest.raises(ImageLoadError, match=r"^<array>: expected a uint8"):
        load_image(art.astype(np.float32))
    with pytest.raises(ImageLoadError, match=r"^<array>: expected shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height but that holds no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    body = struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + end)


def test_pixel_limit_checked_from_header_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    _png_header_only(path, 40_000, 40_000)  # 1.6 gigapixels claimed, no data
    with pytest.raises(ImageLoadError, match=r"^bomb\.png: image is 40000x40000 .* over the limit"):
        load_image(path)
    small = tmp_path / "small.png"
    Image.fromarray(_art(10, 10)).save(small)
    with pytest.raises(ImageLoadError, match=r"^small\.png: .*over the limit of 50"):
        load_image(small, max_pixels=50)
    assert load_image(small, max_pixels=100).rgba.shape == (10, 10, 4)


def test_raised_pixel_limit_lets_the_header_through(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    _png_header_only(path, 40_000, 40_000)
    # allowed by the raised limit, then the missing data is reported (not the limit)
    with pytest.raises(ImageLoadError, match=r"^bomb\.png: corrupt or truncated"):
        load_image(path, max_pixels=2_000_000_000)
    assert Image.MAX_IMAGE_PIXELS is not None  # Pillow's process-wide limit restored


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    good = tmp_path / "good.png"
    Image.fromarray(noise).save(good)
    data = good.read_bytes()
    files = {
        "truncated": tmp_path / "truncated.png",
        "corrupt": tmp_path / "corrupt.png",
        "text": tmp_path / "notes.png",
        "empty": tmp_path / "empty.jpg",
        "jpeg_cut": tmp_path / "cut.jpg",
        "psd_garbage": tmp_path / "garbage.psd",
        "psd_cut": tmp_path / "cut.psd",
    }
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["corrupt"].write_bytes(data[:8] + bytes(range(256)) * 4)
    files["text"].write_text("this is not an image\n")
    files["empty"].write_bytes(b"")
    Image.fromarray(noise).save(tmp_path / "full.jpg")
    files["jpeg_cut"].write_bytes((tmp_path / "full.jpg").read_bytes()[:300])
    files["psd_garbage"].write_bytes(b"8BPS" + bytes(40))
    files["psd_cut"].write_bytes((PSD_DIR / "2layers.psd").read_bytes()[:2000])
    return files


@pytest.mark.parametrize(
    "kind", ["truncated", "corrupt", "text", "empty", "jpeg_cut", "psd_garbage", "psd_cut"]
)
def test_bad_files_raise_image_load_error_naming_the_file(tmp_path: Path, kind: str) -> None:
    path = _bad_files(tmp_path)[kind]
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert message.startswith(f"{path.name}: ")
    assert "\n" not in message


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"^nope\.png: file not found$"):
        load_image(tmp_path / "nope.png")
    folder = tmp_path / "pics"
    folder.mkdir()
    with pytest.raises(ImageLoadError, match=r"^pics: is a folder"):
        load_image(folder)


@pytest.mark.parametrize(
    "name",
    [
        "1layer.psd",
        "2layers.psd",
        "16bit5x5.psd",
        "colormodes_4x4_8bit_grayscale.psd",
        "third-party-psds_cactus_top.psd",
        "transparentbg-gimp.psd",
        "layer-name-emoji.psd",
    ],
)
def test_psd_fixtures_load_via_composite(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(PSD_DIR / name, path)
    loaded = load_image(path)
    psd = PSDImage.open(path)
    assert loaded.size == (psd.width, psd.height)
    expected = np.asarray(psd.composite().convert("RGBA"))
    if psd.depth == 8:
        assert (loaded.rgba == expected).all()
    else:
        assert np.abs(loaded.rgba.astype(int) - expected).max() <= 1
    if len(psd) > 0:
        assert any("composite" in note for note in loaded.warnings)


def test_transparent_psd_keeps_transparency() -> None:
    loaded = load_image(PSD_DIR / "transparentbg-gimp.psd")
    assert loaded.has_alpha
    assert (loaded.rgba[..., 3] == 0).any() and (loaded.rgba[..., 3] == 255).any()


def test_flatten_alpha_over_white() -> None:
    rgba = np.array([[[10, 20, 30, 255], [200, 0, 0, 0], [0, 0, 0, 128]]], np.uint8)
    rgb = flatten_alpha(rgba)
    assert rgb.shape == (1, 3, 3)
    assert tuple(rgb[0, 0]) == (10, 20, 30)
    assert tuple(rgb[0, 1]) == (255, 255, 255)
    assert tuple(rgb[0, 2]) == (127, 127, 127)


def test_psd_pixel_limit_checked_from_its_header(tmp_path: Path) -> None:
    header = b"8BPS" + struct.pack(">H6sHIIHH", 1, bytes(6), 3, 30_000, 40_000, 8, 3)
    path = tmp_path / "huge.psd"
    path.write_bytes(header + bytes(64))
    with pytest.raises(ImageLoadError, match=r"^huge\.psd: image is 40000x30000 .*over the limit"):
        load_image(path)


def test_16bit_rgb_png_converted_to_8bit(tmp_path: Path) -> None:
    deep = np.array([[[0, 257 * 100, 65535], [1999, 128, 65280]]], np.uint16)
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in deep)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0)  # 2x1, 16 bit, RGB
    path = tmp_path / "deep_rgb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    loaded = load_image(path)
    assert loaded.rgba.dtype == np.uint8 and loaded.rgba.shape == (1, 2, 4)
    expected = np.rint(deep / 257.0)
    assert np.abs(loaded.rgba[..., :3].astype(int) - expected).max() <= 1


# Pillow's own decompression-bomb limit follows ours, without touching process-wide state -----


class _AssignmentWatcher(type(Image)):
    """Module type that records every assignment to PIL.Image.MAX_IMAGE_PIXELS (a test spy)."""

    assigned: list[object] = []

    def __setattr__(self, name: str, value: object) -> None:
        if name == "MAX_IMAGE_PIXELS":
            _AssignmentWatcher.assigned.append(value)
        super().__setattr__(name, value)


@pytest.fixture
def watched_pillow_limit():
    """Record assignments to Image.MAX_IMAGE_PIXELS while the test runs."""
    import PIL.Image as pil_image

    original_class = pil_image.__class__
    _AssignmentWatcher.assigned = []
    pil_image.__class__ = _AssignmentWatcher
    try:
        yield _AssignmentWatcher.assigned
    finally:
        pil_image.__class__ = original_class


def test_pillow_limit_is_never_changed_process_wide(tmp_path: Path, watched_pillow_limit) -> None:
    path = tmp_path / "bomb.png"
    _png_header_only(path, 40_000, 40_000)
    with pytest.raises(ImageLoadError, match=r"^bomb\.png: image is 40000x40000"):
        load_image(path)
    with pytest.raises(ImageLoadError, match=r"^bomb\.png: corrupt or truncated"):
        load_image(path, max_pixels=2_000_000_000)
    assert watched_pillow_limit == [], "library code must not mutate Image.MAX_IMAGE_PIXELS"


def test_over_the_limit_error_carries_the_header_size(tmp_path: Path) -> None:
    from decomposer.errors import ImageTooLargeError

    path = tmp_path / "bomb.png"
    _png_header_only(path, 30_000, 30_000)  # far beyond Pillow's own bomb limit too
    with pytest.raises(ImageTooLargeError) as error:
        load_image(path, max_pixels=150_000_000)
    assert error.value.size == (30_000, 30_000) and error.value.max_pixels == 150_000_000
    assert "30000x30000 = 900,000,000 pixels" in str(error.value)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".gif"])
def test_pillow_bomb_check_follows_our_higher_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """With Pillow's limit far below ours, an image inside our limit still decodes."""
    art = _art(80, 100)  # 8000 pixels; Pillow (set to 1000 here) refuses above 2000
    path = tmp_path / f"art{suffix}"
    Image.fromarray(art).save(path, **({"quality": 95} if suffix == ".jpg" else {}))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the test stands in for a user's setting
    loaded = load_image(path, max_pixels=10_000)
    assert loaded.size == (100, 80)
    if suffix in (".png", ".bmp", ".gif"):
        assert (loaded.rgba[..., :3] == art).all()
    from decomposer.errors import ImageTooLargeError

    with pytest.raises(ImageTooLargeError, match=r"100x80 = 8,000 pixels, over the limit of 5,000"):
        load_image(path, max_pixels=5_000)
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_decoder_that_rechecks_pillows_limit_is_reported_as_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WebP's decoder applies Pillow's limit inside its own header parsing: a clear refusal."""
    from decomposer.errors import ImageTooLargeError

    path = tmp_path / "art.webp"
    Image.fromarray(_art(80, 100)).save(path, lossless=True)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageTooLargeError, match=r"^art\.webp: image is too large for its decoder"):
        load_image(path, max_pixels=10_000)


def _png_16bit(path: Path, deep: np.ndarray, colour_type: int) -> None:
    raw = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in deep)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    height, width = deep.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


_DEEP = np.array(
    [[[0, 257 * 100 + 200, 65535, 65535], [1999, 128, 65280, 40000], [383, 384, 130, 129]]],
    np.uint16,
)  # high bytes truncate to 101, 7, 1, ...; rounding gives 101 -> 101, 1999 -> 8, 383 -> 1, 384 -> 1


@pytest.mark.parametrize(("colour_type", "channels"), [(2, 3), (6, 4)])
def test_16bit_png_rounded_to_8bit_with_one_warning(
    tmp_path: Path, colour_type: int, channels: int
) -> None:
    path = tmp_path / "deep.png"
    _png_16bit(path, _DEEP[..., :channels], colour_type)
    loaded = load_image(path)
    expected = (_DEEP[..., :channels].astype(np.int64) + 128) // 257  # round(v / 257)
    assert (loaded.rgba[..., :channels] == expected).all()
    notes = [note for note in loaded.warnings if "16-bit" in note]
    assert len(notes) == 1 and notes[0].startswith("deep.png: ") and "rounded" in notes[0]


@pytest.mark.parametrize("byteorder", ["<", ">"])
@pytest.mark.parametrize("compression", [None, "zlib"])
def test_16bit_tiff_rounded_to_8bit(
    tmp_path: Path, byteorder: str, compression: str | None
) -> None:
    tifffile = pytest.importorskip("tifffile")
    path = tmp_path / "deep.tif"
    tifffile.imwrite(
        path, _DEEP[..., :3], photometric="rgb", compression=compression, byteorder=byteorder
    )
    loaded = load_image(path)
    assert (loaded.rgba[..., :3] == (_DEEP[..., :3].astype(np.int64) + 128) // 257).all()
    assert len([note for note in loaded.warnings if "16-bit" in note]) == 1


def test_16bit_grayscale_warns_once(tmp_path: Path) -> None:
    path = tmp_path / "grey.png"
    Image.fromarray(np.array([[0, 383, 384, 65535]], np.uint16)).save(path)
    loaded = load_image(path)
    assert list(loaded.rgba[0, :, 0]) == [0, 1, 1, 255]
    assert len([note for note in loaded.warnings if "16-bit" in note]) == 1


def test_16bit_psd_rounded_to_8bit_with_one_warning() -> None:
    psd = PSDImage.open(PSD_DIR / "16bit5x5.psd")
    expected = np.rint(np.asarray(psd.numpy(), np.float64) * 255).astype(np.uint8)
    loaded = load_image(PSD_DIR / "16bit5x5.psd")
    assert (loaded.rgba[..., :3] == expected[..., :3]).all()
    assert len([note for note in loaded.warnings if "16-bit" in note]) == 1


def test_check_image_validates_like_load_image_without_keeping_pixels(tmp_path: Path) -> None:
    from decomposer.errors import ImageTooLargeError
    from decomposer.image_io import check_image

    art = np.zeros((4, 6, 3), np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "rotated.png"
    Image.fromarray(art).save(rotated, exif=exif)
    assert check_image(rotated) == load_image(rotated).size == (4, 6)
    for name, path in _bad_files(tmp_path).items():
        with pytest.raises(ImageLoadError) as checked:
            check_image(path)
        with pytest.raises(ImageLoadError) as loaded:
            load_image(path)
        assert str(checked.value) == str(loaded.value), name
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 40_000, 40_000)
    with pytest.raises(ImageTooLargeError, match="40000x40000"):
        check_image(bomb)
    assert check_image(PSD_DIR / "2layers.psd") == load_image(PSD_DIR / "2layers.psd").size


def test_16bit_grey_alpha_png_warns_once_that_only_the_high_byte_is_kept(tmp_path: Path) -> None:
    """Pillow has no low-byte reader for 16-bit grey + alpha: the note says what happened."""
    path = tmp_path / "la16.png"
    _png_16bit(path, _DEEP[..., :2], 4)
    loaded = load_image(path)
    assert list(loaded.rgba[0, :, 0]) == [0, 7, 1]  # high bytes of 0, 1999, 383
    notes = [note for note in loaded.warnings if "16-bit" in note]
    assert notes == ["la16.png: 16-bit image reduced to 8 bits per channel (high byte only)"]
