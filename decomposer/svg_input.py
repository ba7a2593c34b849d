"""SVG and SVGZ input: rasterised with resvg (`decomposer.svg_render`) before decomposing.

The drawing is rendered at its own aspect with its longer side `svg_size` pixels (the SVG's own
width/height or viewBox give the aspect), anti-aliased, on transparency; text uses the bundled
DejaVu fonts. `.svgz` (gzip) is decompressed first, at most MAX_SVG_BYTES. The XML is parsed
without entity expansion or network access (no XXE, no billion laughs).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib

import numpy as np

from decomposer.errors import ImageLoadError, ImageTooLargeError

DEFAULT_SVG_SIZE = 1024
MAX_SVG_BYTES = 64 << 20  # decompressed SVG text
_GZIP_MAGIC = b"\x1f\x8b"
_UNIT_TO_PX = {"": 1.0, "px": 1.0, "pt": 96 / 72, "pc": 16.0, "mm": 96 / 25.4, "cm": 96 / 2.54,
               "in": 96.0}  # fmt: skip
_LENGTH_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z%]*)\s*$")


def looks_like_svg(head: bytes) -> bool:
    """True when the first bytes of a file are SVG (XML with an <svg> root) or gzip (SVGZ is
    confirmed only after decompression, by `load_svg`)."""
    if head[:2] == _GZIP_MAGIC:
        return True
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return (
        text.startswith((b"<?xml", b"<svg", b"<!doctype svg", b"<!--")) and b"<svg" in head.lower()
    )


def load_svg(data: bytes, name: str, svg_size: int, max_pixels: int) -> np.ndarray:
    """Rasterise SVG (or SVGZ) bytes: uint8 (H, W, 4) straight alpha, longer side `svg_size`.

    Raises ImageLoadError naming `name` for anything that is not a renderable SVG.
    """
    if svg_size < 1:
        raise ValueError(f"svg_size must be positive, got {svg_size}")
    text = _svg_text(data, name)
    width, height = _intrinsic_size(text, name)
    scale = svg_size / max(width, height)
    out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
    if out_w * out_h > max_pixels:
        raise ImageTooLargeError(
            f"{name}: SVG rendered at {out_w}x{out_h} = {out_w * out_h:,} pixels is over the "
            f"limit of {max_pixels:,} (lower --svg-size or raise max_pixels)",
            (out_w, out_h),
            max_pixels,
        )
    from decomposer.svg_render import render_svg

    try:
        return np.ascontiguousarray(render_svg(text, out_w, out_h, crisp=False))
    except (ValueError, OSError) as exc:
        raise ImageLoadError(f"{name}: cannot render the SVG ({_short(exc)})") from exc


def _svg_text(data: bytes, name: str) -> str:
    if data[:2] == _GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
                data = stream.read(MAX_SVG_BYTES + 1)
        except (OSError, EOFError, zlib.error) as exc:
            raise ImageLoadError(f"{name}: corrupt SVGZ (gzip) file ({_short(exc)})") from exc
        if len(data) > MAX_SVG_BYTES:
            raise ImageLoadError(f"{name}: SVG is larger than {MAX_SVG_BYTES >> 20} MiB unpacked")
        if not looks_like_svg(data[:4096]) or data[:2] == _GZIP_MAGIC:
            raise ImageLoadError(f"{name}: not a supported image file (gzip data, not SVGZ)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return data.decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes any bytes
            raise ImageLoadError(f"{name}: SVG is not UTF-8 text") from exc


def _intrinsic_size(text: str, name: str) -> tuple[float, float]:
    """(width, height) in CSS px from the root's width/height/viewBox (aspect source)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise ImageLoadError(f"{name}: not a valid SVG (XML error: {_short(exc)})") from exc
    if root is None or not isinstance(root.tag, str) or etree.QName(root).localname != "svg":
        raise ImageLoadError(f"{name}: not an SVG (the root element is not <svg>)")
    box = _view_box(root.get("viewBox"))
    width, height = _length(root.get("width")), _length(root.get("height"))
    if width and height:
        return width, height
    if box is not None:
        if width:
            return width, width * box[1] / box[0]
        if height:
            return height * box[0] / box[1], height
        return box
    raise ImageLoadError(f"{name}: SVG has no usable width/height or viewBox to size it")


def _length(text: str | None) -> float | None:
    match = _LENGTH_RE.match(text or "")
    if match is None or match.group(2).lower() not in _UNIT_TO_PX:
        return None
    value = float(match.group(1)) * _UNIT_TO_PX[match.group(2).lower()]
    return value if value > 0 else None


def _view_box(text: str | None) -> tuple[float, float] | None:
    parts = [p for p in re.split(r"[\s,]+", (text or "").strip()) if p]
    if len(parts) != 4:
        return None
    try:
        width, height = float(parts[2]), float(parts[3])
    except ValueError:
        return None
    return (width, height) if width > 0 and height > 0 else None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
