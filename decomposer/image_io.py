"""Image input and validation: any supported file, PIL image or array -> 8-bit sRGB RGBA.

Supported files: PNG, JPEG, WebP, BMP, TIFF, GIF (first frame, with a warning when animated),
layered PSD/PSB (decoded via the document's composite) and SVG/SVGZ (rasterised with resvg at
`svg_size` px on the longer side, `decomposer.svg_input`). EXIF orientation is applied; palette,
grayscale, 16-bit (rounded, with one warning), float and CMYK images are converted to 8-bit RGB(A);
an embedded ICC profile is converted to sRGB. The pixel limit is checked from the header, before
the pixels are decoded, and it replaces Pillow's own decompression-bomb limit for that call
(without touching Pillow's process-wide setting).
"""

from __future__ import annotations

import contextlib
import io
import struct
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from decomposer.errors import ImageLoadError, ImageTooLargeError
from decomposer.svg_input import DEFAULT_SVG_SIZE, load_svg, looks_like_svg

DEFAULT_MAX_PIXELS = 100_000_000
SVG_SUFFIXES = (".svg", ".svgz")
ARRAY_NAME = "<array>"
PIL_NAME = "<image>"

_PSD_SIGNATURE = b"8BPS"
_EXIF_ORIENTATION = 0x0112
_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class LoadedImage:
    """A validated input image.

    rgba: uint8 (H, W, 4), straight alpha, sRGB; alpha is 255 everywhere for opaque inputs.
    has_alpha: True when the input carries transparency (some alpha < 255).
    path: the file it came from, None for in-memory inputs.
    warnings: human-readable notes about the conversion (e.g. "first frame of 12 used").
    """

    rgba: np.ndarray
    has_alpha: bool
    path: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return (int(self.rgba.shape[1]), int(self.rgba.shape[0]))

    @property
    def name(self) -> str:
        """File name for messages, or a placeholder for in-memory images."""
        return self.path.name if self.path is not None else ARRAY_NAME


def load_image(
    source: str | Path | Image.Image | np.ndarray | LoadedImage,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    svg_size: int = DEFAULT_SVG_SIZE,
) -> LoadedImage:
    """Load and validate `source` (a path, PIL image, uint8 array (H,W)/(H,W,3)/(H,W,4)).

    Raises ImageLoadError (message starts with the file name) for missing, unreadable, truncated,
    corrupt inputs, and its subclass ImageTooLargeError (with the header's size) for inputs over
    `max_pixels` (width * height), checked from the header before any pixel is decoded.
    `svg_size`: SVG/SVGZ files are rendered with this many pixels on their longer side.
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    if isinstance(source, LoadedImage):
        _check_pixels(source.name, *source.size, max_pixels)
        return source
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels)
    if isinstance(source, Image.Image):
        _check_pixels(PIL_NAME, source.width, source.height, max_pixels)
        notes: list[str] = []
        rgba = _pil_to_rgba(PIL_NAME, source, notes)
        return _finish(rgba, None, notes)
    if isinstance(source, str | Path):
        return _from_file(Path(source), max_pixels, svg_size)
    raise TypeError(f"cannot load an image from {type(source).__name__}")


def _finish(rgba: np.ndarray, path: Path | None, notes: list[str]) -> LoadedImage:
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    has_alpha = bool((rgba[..., 3] != 255).any())
    return LoadedImage(rgba=rgba, has_alpha=has_alpha, path=path, warnings=notes)


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name}: image is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{max_pixels:,} (raise max_pixels to allow it)",
            (width, height),
            max_pixels,
        )


def _from_array(array: np.ndarray, max_pixels: int) -> LoadedImage:
    if array.dtype != np.uint8:
        raise ImageLoadError(f"{ARRAY_NAME}: expected a uint8 array, got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        h, w = array.shape
        _check_pixels(ARRAY_NAME, w, h, max_pixels)
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., :3] = array[..., None]
        rgba[..., 3] = 255
        return _finish(rgba, None, [])
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageLoadError(
            f"{ARRAY_NAME}: expected shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}"
        )
    h, w = array.shape[:2]
    _check_pixels(ARRAY_NAME, w, h, max_pixels)
    if array.shape[2] == 4:
        return _finish(array.copy(), None, [])
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = array
    rgba[..., 3] = 255
    return _finish(rgba, None, [])


def _file_head(path: Path) -> tuple[str, bytes]:
    """(name for messages, first 32 bytes) of an image file; ImageLoadError if there is none."""
    name = path.name or str(path)
    if not path.exists():
        raise ImageLoadError(f"{name}: file not found")
    if path.is_dir():
        raise ImageLoadError(f"{name}: is a folder, not an image file")
    try:
        with path.open("rb") as fh:
            head = fh.read(32)
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    if not head:
        raise ImageLoadError(f"{name}: file is empty")
    return name, head


@contextlib.contextmanager
def _decoding(name: str, max_pixels: int) -> Iterator[None]:
    """Turn what Pillow raises while opening or decoding into one-line ImageLoadErrors."""
    try:
        yield
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"{name}: not a supported image file") from exc
    except Image.DecompressionBombError as exc:  # a decoder that re-checks Pillow's own limit
        raise ImageTooLargeError(
            f"{name}: image is too large for its decoder's own safety limit ({_short(exc)}); "
            "convert it to PNG or downscale it",
            None,
            max_pixels,
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        raise ImageLoadError(f"{name}: corrupt or truncated image ({_short(exc)})") from exc
    except MemoryError as exc:
        raise ImageLoadError(f"{name}: not enough memory to decode the image") from exc


def _from_file(path: Path, max_pixels: int, svg_size: int = DEFAULT_SVG_SIZE) -> LoadedImage:
    name, head = _file_head(path)
    if head[:4] == _PSD_SIGNATURE:
        return _from_psd(path, name, head, max_pixels)
    if _is_svg(path, head):
        return _from_svg(path, name, max_pixels, svg_size)
    notes: list[str] = []
    with _decoding(name, max_pixels), _opened(path, name, max_pixels) as im:
        _check_pixels(name, im.width, im.height, max_pixels)
        frames = int(getattr(im, "n_frames", 1) or 1)
        if frames > 1:
            notes.append(f"{name}: animated image with {frames} frames; using the first frame")
            im.seek(0)
        low_bytes = _low_byte_tiles(im)
        deep = _has_deep_tiles(im)
        im.load()
        if low_bytes is not None:
            _round_deep_channels(path, im, low_bytes, name, notes)
        elif deep and im.mode not in _DEEP_GREY_MODES:  # e.g. 16-bit grey + alpha
            notes.append(f"{name}: 16-bit image reduced to 8 bits per channel (high byte only)")
        rgba = _pil_to_rgba(name, im, notes)
    return _finish(rgba, path, notes)


def check_image(
    source: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS, svg_size: int = DEFAULT_SVG_SIZE
) -> tuple[int, int]:
    """Validate an image file as `load_image` would, without keeping or converting its pixels.

    The header's size is checked against `max_pixels` (ImageTooLargeError) before decoding, then
    the first frame is decoded in full (ImageLoadError if corrupt or truncated) and dropped: peak
    memory is one frame in Pillow's own layout, not the RGBA array `load_image` builds (PSDs are
    loaded, their composite being what is decoded; SVGs are rendered at `svg_size`).
    Returns (width, height).
    """
    if max_pixels <= 0:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    path = Path(source)
    name, head = _file_head(path)
    if head[:4] == _PSD_SIGNATURE:
        return _from_psd(path, name, head, max_pixels).size
    if _is_svg(path, head):
        return _from_svg(path, name, max_pixels, svg_size).size
    with _decoding(name, max_pixels), _opened(path, name, max_pixels) as im:
        _check_pixels(name, im.width, im.height, max_pixels)
        im.seek(0)
        im.load()
        width, height = im.size
        quarter_turn = im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
    return (height, width) if quarter_turn else (width, height)  # as load_image turns it


def _is_svg(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in SVG_SUFFIXES or looks_like_svg(head)


def _from_svg(path: Path, name: str, max_pixels: int, svg_size: int) -> LoadedImage:
    """Rasterise an SVG/SVGZ file (see decomposer.svg_input)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageLoadError(f"{name}: cannot read file ({exc.strerror or exc})") from exc
    return _finish(load_svg(data, name, svg_size, max_pixels), path, [])


def _from_psd(path: Path, name: str, head: bytes, max_pixels: int) -> LoadedImage:
    """Decode a PSD/PSB via its composite (the stored merged image, or psd-tools' rendering)."""
    if len(head) < 26:
        raise ImageLoadError(f"{name}: corrupt or truncated PSD header")
    version = struct.unpack(">H", head[4:6])[0]
    height, width = struct.unpack(">II", head[14:22])
    if version not in (1, 2):
        raise ImageLoadError(f"{name}: unsupported PSD version {version}")
    _check_pixels(name, width, height, max_pixels)
    from psd_tools import PSDImage

    try:
        psd = PSDImage.open(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            composite = psd.composite()
        if composite is None:
            raise ImageLoadError(f"{name}: PSD has no composite image")
        composite.load()
        notes: list[str] = []
        if len(psd) > 0:
            notes.append(f"{name}: layered PSD; decomposing its composite image")
        rgba = _deep_psd_composite(psd) if psd.depth > 8 else None
        if rgba is not None:
            notes.append(f"{name}: {psd.depth}-bit image reduced to 8 bits per channel (rounded)")
        else:
            if psd.depth > 8:
                notes.append(f"{name}: {psd.depth}-bit image reduced to 8 bits per channel")
            rgba = _pil_to_rgba(name, composite, notes)
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise ImageLoadError(f"{name}: not enough memory to decode the PSD") from exc
    except Exception as exc:  # psd-tools raises many kinds on malformed files
        raise ImageLoadError(f"{name}: corrupt or unsupported PSD ({_short(exc)})") from exc
    return _finish(rgba, path, notes)


def _deep_psd_composite(psd: object) -> np.ndarray | None:
    """uint8 (H, W, 4) of a 16/32-bit RGB or grayscale PSD's stored composite, rounded from its
    full-precision samples (psd-tools' own 8-bit conversion truncates); None if not available."""
    from psd_tools.constants import ColorMode

    if psd.color_mode not in (ColorMode.RGB, ColorMode.GRAYSCALE) or not psd.has_preview():
        return None
    values = np.asarray(psd.numpy(), dtype=np.float64)
    if values.ndim == 2:
        values = values[..., None]
    samples = np.rint(np.clip(np.nan_to_num(values), 0.0, 1.0) * 255.0).astype(np.uint8)
    channels = samples.shape[2]
    if channels in (1, 2):
        return _grey_to_rgba(samples[..., 0], samples[..., 1] if channels == 2 else None)
    if channels not in (3, 4):
        return None
    rgba = np.full(samples.shape[:2] + (4,), 255, np.uint8)
    rgba[..., :channels] = samples
    return rgba


def _opened(path: Path, name: str, max_pixels: int) -> Image.Image:
    """The image file opened by Pillow (header only), with our `max_pixels` instead of Pillow's
    decompression-bomb limit.

    `Image.open` applies Pillow's process-wide `MAX_IMAGE_PIXELS`, which must not be changed from
    library code (other threads rely on it). When it refuses, the file is identified again by the
    registered format plugins directly, which read the header without that check; the caller then
    applies our own limit to the header's size before any pixel is decoded.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except Image.DecompressionBombError:
            pass
        return _open_with_plugins(path, name, max_pixels)


def _open_with_plugins(path: Path, name: str, max_pixels: int) -> Image.Image:
    """Identify `path` with each registered Pillow format plugin in turn (what `Image.open`
    does), without Pillow's own pixel-count check."""
    Image.init()
    fh = path.open("rb")
    try:
        prefix = fh.read(16)
        for format_id in Image.ID:
            factory, accept = Image.OPEN[format_id]
            accepted = True if accept is None else accept(prefix)
            if isinstance(accepted, str) or not accepted:
                continue
            fh.seek(0)
            try:
                return factory(fh, str(path))
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue  # not this format after all
            except Image.DecompressionBombError as exc:  # the plugin checks inside its header
                raise ImageTooLargeError(
                    f"{name}: image is too large for its decoder's own safety limit "
                    f"({_short(exc)}); convert it to PNG or downscale it",
                    None,
                    max_pixels,
                ) from exc
    except BaseException:
        fh.close()
        raise
    fh.close()
    raise ImageLoadError(f"{name}: not a supported image file")


# 16-bit-per-channel RGB(A): Pillow keeps only the high byte of each sample; decoding the same
# tiles once more with the opposite byte order yields the low bytes, and round(v / 257) follows.
_DEEP_BASES = ("RGB", "RGBA")


def _low_byte_rawmode(rawmode: object) -> str | None:
    """For a 16-bit RGB(A) raw mode (e.g. "RGB;16B"), the one that reads the low bytes."""
    if not isinstance(rawmode, str):
        return None
    base, _, depth = rawmode.rpartition(";")
    if base not in _DEEP_BASES or depth not in ("16B", "16L", "16N"):
        return None
    order = depth[-1]
    if order == "N":
        order = "L" if sys.byteorder == "little" else "B"
    return f"{base};16{'L' if order == 'B' else 'B'}"


_DEEP_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # rounded by _pil_to_rgba


def _has_deep_tiles(im: Image.Image) -> bool:
    """True when Pillow decodes this image from 16-bit samples (raw mode `...;16B` etc.)."""
    for tile in getattr(im, "tile", None) or []:
        args = tile.args
        rawmode = args if isinstance(args, str) else (args[0] if args else None)
        if isinstance(rawmode, str) and ";16" in rawmode:
            return True
    return False


def _low_byte_tiles(im: Image.Image) -> list | None:
    """Tiles that decode the low bytes of a 16-bit RGB(A) image; None for any other image."""
    tiles = list(getattr(im, "tile", None) or [])
    if not tiles or im.mode not in _DEEP_BASES:
        return None
    low = []
    for tile in tiles:
        args = tile.args
        rawmode = args if isinstance(args, str) else (args[0] if args else None)
        swapped = _low_byte_rawmode(rawmode)
        if swapped is None:
            return None
        low.append(tile._replace(args=swapped if isinstance(args, str) else (swapped, *args[1:])))
    return low


def _round_deep_channels(
    path: Path, im: Image.Image, low_tiles: list, name: str, notes: list[str]
) -> None:
    """Replace the loaded high bytes of a 16-bit RGB(A) image by round(v / 257), in place."""
    try:
        with _opened(path, name, im.width * im.height) as again:
            again.tile = low_tiles
            again.load()
            low = np.asarray(again, dtype=np.uint16)
    except (OSError, ValueError, SyntaxError, struct.error, IndexError):
        notes.append(f"{name}: 16-bit image reduced to 8 bits per channel (high byte only)")
        return
    high = np.asarray(im, dtype=np.uint16)
    if low.shape != high.shape:
        notes.append(f"{name}: 16-bit image reduced to 8 bits per channel (high byte only)")
        return
    rounded = ((high * 256 + low).astype(np.uint32) + 128) // 257
    im.paste(Image.fromarray(rounded.astype(np.uint8), im.mode))
    notes.append(f"{name}: 16-bit image reduced to 8 bits per channel (rounded)")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _pil_to_rgba(name: str, im: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert any PIL image to uint8 (H, W, 4) sRGB with straight alpha."""
    im = ImageOps.exif_transpose(im) or im
    mode = im.mode
    if mode in ("P", "PA"):
        im = im.convert("RGBA")
        mode = im.mode
    if mode in _DEEP_GREY_MODES:
        data = np.asarray(im).astype(np.float64)
        grey = np.clip(np.round(data / 257.0), 0, 255).astype(np.uint8)
        notes.append(f"{name}: 16-bit image reduced to 8 bits per channel (rounded)")
        return _grey_to_rgba(grey, None)
    if mode == "F":
        data = np.asarray(im, dtype=np.float64)
        grey = np.clip(np.round(np.nan_to_num(data) * 255.0), 0, 255).astype(np.uint8)
        notes.append(f"{name}: floating-point image assumed in [0, 1] and converted to 8-bit")
        return _grey_to_rgba(grey, None)
    if mode == "1":
        im = im.convert("L")
        mode = "L"
    if mode in ("L", "LA", "La"):
        if mode == "La":
            im = im.convert("LA")
        arr = np.asarray(im)
        if arr.ndim == 2:
            return _grey_to_rgba(arr, None)
        return _grey_to_rgba(arr[..., 0], arr[..., 1])
    icc = im.info.get("icc_profile")
    if icc and mode in ("RGB", "RGBA") and _is_srgb_profile(icc):
        icc = None
    if icc and mode in ("RGB", "RGBA", "CMYK"):
        converted = _icc_to_srgb(im, icc)
        if converted is not None:
            im = converted
            mode = im.mode
        else:
            notes.append(f"{name}: embedded colour profile could not be applied; assumed sRGB")
    if mode == "CMYK":
        im = im.convert("RGB")
        mode = "RGB"
        notes.append(f"{name}: CMYK converted to RGB without a colour profile")
    if mode in ("RGBa", "LAB", "HSV", "YCbCr", "RGBX", "I;16S"):
        im = im.convert("RGBA" if mode == "RGBa" else "RGB")
        mode = im.mode
    if mode == "RGBA":
        return np.array(im, dtype=np.uint8)
    if mode == "RGB":
        arr = np.asarray(im)
        rgba = np.empty(arr.shape[:2] + (4,), np.uint8)
        rgba[..., :3] = arr
        rgba[..., 3] = 255
        return rgba
    converted = im.convert("RGBA")
    return np.array(converted, dtype=np.uint8)


def _grey_to_rgba(grey: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    rgba = np.empty(grey.shape + (4,), np.uint8)
    rgba[..., :3] = grey[..., None]
    rgba[..., 3] = 255 if alpha is None else alpha
    return rgba


def _is_srgb_profile(icc: bytes) -> bool:
    """True when the embedded profile describes sRGB itself (then no conversion is needed)."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return False
    return "srgb" in description.lower()


def _icc_to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert an RGB/RGBA/CMYK image with an embedded profile to sRGB; None if that fails."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, src, _SRGB_PROFILE, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def flatten_alpha(
    rgba: np.ndarray, background: tuple[int, int, int] = (255, 255, 255)
) -> np.ndarray:
    """RGB uint8 (H, W, 3) of straight-alpha `rgba` uint8 (H, W, 4) blended over `background`.

    Opaque pixels keep their exact colour; this is the network's input for transparent images.
    """
    rgb = rgba[..., :3]
    alpha = rgba[..., 3]
    if (alpha == 255).all():
        return np.ascontiguousarray(rgb)
    a = alpha.astype(np.uint32)[..., None]
    bg = np.asarray(background, np.uint32)
    out = (rgb.astype(np.uint32) * a + bg * (255 - a) + 127) // 255
    return out.astype(np.uint8)
