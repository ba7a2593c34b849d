"""Legacy SVG clean-up before rendering: namespace, XML parsing, viewBox from physical units.

Old Inkscape/Illustrator exports often lack the SVG namespace or give their size in `pt`/`mm`
with no `viewBox`; resvg then renders nothing or a shrunken drawing. `clean_svg` fixes both and
`svg_size` reports the intrinsic size (px) that the renderer will use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

# CSS absolute units in px (96 dpi), as SVG defines them.
UNIT_TO_PX: dict[str, float] = {
    "": 1.0,
    "px": 1.0,
    "pt": 96.0 / 72.0,
    "pc": 16.0,
    "mm": 96.0 / 25.4,
    "cm": 96.0 / 2.54,
    "in": 96.0,
}

_LENGTH_RE = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-zA-Z%]*)\s*$")


class SvgError(ValueError):
    """An SVG that cannot be parsed, sized or rendered; the message starts with the file name."""


@dataclass(frozen=True)
class SvgSize:
    """Intrinsic size of a cleaned SVG in CSS px (floats > 0)."""

    width: float
    height: float


def parse_length(text: str | None) -> tuple[float, str] | None:
    """Parse an SVG length like `12.5mm` into (12.5, "mm"); None when absent or unparseable."""
    if text is None:
        return None
    match = _LENGTH_RE.match(text)
    if match is None:
        return None
    return float(match.group(1)), match.group(2).lower()


def _length_px(text: str | None) -> float | None:
    parsed = parse_length(text)
    if parsed is None or parsed[1] not in UNIT_TO_PX or parsed[0] <= 0:
        return None
    return parsed[0] * UNIT_TO_PX[parsed[1]]


def _parse_view_box(text: str | None) -> tuple[float, float, float, float] | None:
    if not text:
        return None
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    if len(parts) != 4:
        return None
    try:
        x, y, w, h = (float(p) for p in parts)
    except ValueError:
        return None
    if w <= 0 or h <= 0:
        return None
    return x, y, w, h


def _add_namespace(root: etree._Element) -> etree._Element:
    """Return a copy of a namespace-less tree with every plain tag moved into the SVG namespace."""
    for element in root.iter():
        if isinstance(element.tag, str) and not element.tag.startswith("{"):
            element.tag = f"{{{SVG_NS}}}{element.tag}"
    text = etree.tostring(root)
    return etree.fromstring(text, _parser())


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        remove_comments=True,
        remove_pis=True,
        resolve_entities=False,
        huge_tree=True,
        no_network=True,
    )


def parse_svg(data: bytes, name: str = "<svg>") -> etree._Element:
    """Parse SVG bytes into an lxml root in the SVG namespace; raises SvgError naming `name`."""
    if b"xlink:" in data and b"xmlns:xlink" not in data:
        data = re.sub(rb"<svg\b", b'<svg xmlns:xlink="' + XLINK_NS.encode() + b'"', data, count=1)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError:
        try:
            root = etree.fromstring(
                data, etree.XMLParser(recover=True, remove_comments=True, huge_tree=True)
            )
        except etree.XMLSyntaxError as exc:
            raise SvgError(f"{name}: not valid XML ({exc})") from None
        if root is None:
            raise SvgError(f"{name}: not valid XML") from None
    if not isinstance(root.tag, str) or etree.QName(root).localname != "svg":
        raise SvgError(f"{name}: root element is not <svg>")
    if etree.QName(root).namespace is None:
        root = _add_namespace(root)
    elif etree.QName(root).namespace != SVG_NS:
        raise SvgError(f"{name}: root element is in namespace {etree.QName(root).namespace!r}")
    return root


def clean_svg(root: etree._Element, name: str = "<svg>") -> SvgSize:
    """Fix the root's sizing in place and return its intrinsic size (px).

    Without a `viewBox`, a width/height in physical units (`pt`, `mm`, ...) means the drawing's
    user units are those numbers, so the viewBox becomes `0 0 w h` and width/height become px.
    With neither a usable viewBox nor a width/height, raises SvgError.
    """
    view_box = _parse_view_box(root.get("viewBox"))
    width = parse_length(root.get("width"))
    height = parse_length(root.get("height"))
    if view_box is None:
        if width is None or height is None or width[0] <= 0 or height[0] <= 0:
            raise SvgError(f"{name}: no viewBox and no usable width/height")
        if width[1] not in UNIT_TO_PX or height[1] not in UNIT_TO_PX:
            raise SvgError(f"{name}: no viewBox and width/height in unsupported units")
        root.set("viewBox", f"0 0 {width[0]:g} {height[0]:g}")
        width_px = width[0] * UNIT_TO_PX[width[1]]
        height_px = height[0] * UNIT_TO_PX[height[1]]
        root.set("width", f"{width_px:g}")
        root.set("height", f"{height_px:g}")
        return SvgSize(width_px, height_px)
    width_px = _length_px(root.get("width"))
    height_px = _length_px(root.get("height"))
    vb_w, vb_h = view_box[2], view_box[3]
    if width_px is None and height_px is None:
        width_px, height_px = vb_w, vb_h
    elif width_px is None:
        width_px = height_px * vb_w / vb_h
    elif height_px is None:
        height_px = width_px * vb_h / vb_w
    # Percent or other relative sizes: fall back to the viewBox size.
    root.set("width", f"{width_px:g}")
    root.set("height", f"{height_px:g}")
    return SvgSize(width_px, height_px)


_WHITE = frozenset({"#fff", "#ffffff", "white", "rgb(255,255,255)"})


def _covers_canvas(rect: etree._Element, view_box: tuple[float, float, float, float]) -> bool:
    """True when a `<rect>` is plain opaque white and covers the whole viewBox."""
    decls = {k: v for k, v in rect.attrib.items() if isinstance(k, str)}
    for part in (rect.get("style") or "").split(";"):
        if ":" in part:
            key, value = part.split(":", 1)
            decls[key.strip()] = value.strip()
    if decls.get("fill", "").replace(" ", "").lower() not in _WHITE:
        return False
    if any(decls.get(k, "1").strip() not in ("1", "1.0") for k in ("opacity", "fill-opacity")):
        return False
    if "transform" in decls or "mask" in decls or "clip-path" in decls:
        return False
    try:
        x, y = float(decls.get("x", 0)), float(decls.get("y", 0))
        width, height = float(decls["width"]), float(decls["height"])
    except (KeyError, ValueError):
        return False
    vx, vy, vw, vh = view_box
    return x <= vx and y <= vy and x + width >= vx + vw and y + height >= vy + vh


def unwrap_canvas_mask(root: etree._Element) -> int:
    """Remove masks that mask nothing: a `<mask>` holding only an opaque white rect over the
    whole viewBox, used by untransformed elements (DiceBear wraps every avatar in one; the root
    viewport clips to the canvas anyway). The `mask` attributes and the mask element go;
    returns how many masks were removed. Without a root viewBox nothing is changed."""
    view_box = _parse_view_box(root.get("viewBox"))
    if view_box is None:
        return 0
    removed = 0
    for mask in list(root.iter(f"{{{SVG_NS}}}mask")):
        children = [c for c in mask if isinstance(c.tag, str)]
        if (
            not mask.get("id")
            or len(children) != 1
            or etree.QName(children[0]).localname != "rect"
            or not _covers_canvas(children[0], view_box)
            or mask.get("maskContentUnits", "userSpaceOnUse") != "userSpaceOnUse"
        ):
            continue
        ref = f"url(#{mask.get('id')})"
        users = [
            e
            for e in root.iter()
            if isinstance(e.tag, str) and e.get("mask", "").replace(" ", "") == ref
        ]
        if any(_transformed(e) for e in users):
            continue
        for element in users:
            del element.attrib["mask"]
        mask.getparent().remove(mask)
        removed += 1
    return removed


def _transformed(element: etree._Element) -> bool:
    node: etree._Element | None = element
    while node is not None:
        if node.get("transform"):
            return True
        node = node.getparent()
    return False


def load_clean_svg(path: Path | str) -> tuple[etree._Element, SvgSize]:
    """Read, parse and clean an SVG file; returns (root, intrinsic size in px)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SvgError(f"{path}: cannot read ({exc.strerror})") from None
    root = parse_svg(data, str(path))
    size = clean_svg(root, str(path))
    return root, size
