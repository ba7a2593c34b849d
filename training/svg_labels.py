"""SVG -> (RGB, label) ground truth by the isolation method, with resvg-py as the renderer.

A *piece* is one painted fill or one painted stroke of one drawable element (path, rect, circle,
ellipse, line, polyline, polygon, text, image; `use` expanded), in paint order (`paint-order`
honoured). Each piece is rendered alone (every other drawable hidden, filters stripped, crisp
edges); it owns a pixel where its own alpha >= `alpha_threshold`, later pieces overwrite earlier
ones. The label is the dense rank of the visible pieces (background 0, pieces 1..K, higher =
nearer the front). The RGB image is the normal anti-aliased render on white. Non-square art keeps
its aspect ratio and both maps are padded identically to `size` x `size`.

Options from the paper: consecutive same-colour pieces are squashed into one, and files where
non-consecutive same-colour pieces overlap visibly are flagged as ambiguous (the curation filter).
A fast recolour path (one render with a unique colour per piece) is used only for files where it
provably gives the same answer: flat opaque colours, no CSS, no gradients/masks/opacity/text.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import resvg_py
from lxml import etree
from PIL import Image, ImageColor

from training.amodal import rank_masks
from training.svg_clean import SVG_NS, XLINK_NS, SvgError, SvgSize, clean_svg, parse_svg

DRAWABLE = frozenset(
    {"path", "rect", "circle", "ellipse", "line", "polyline", "polygon", "text", "image"}
)
# Containers whose content is not rendered where it stands (only through a reference).
NOT_RENDERED = frozenset(
    {
        "defs",
        "clipPath",
        "mask",
        "pattern",
        "marker",
        "symbol",
        "linearGradient",
        "radialGradient",
        "filter",
        "style",
        "metadata",
        "title",
        "desc",
        "script",
        "font",
        "foreignObject",
    }
)
RENDERING_PROPS = ("shape-rendering", "text-rendering", "image-rendering")
METHODS = ("isolation", "auto", "recolour")
_REF_RE = re.compile(r"url\(\s*['\"]?#([^)'\"\s]+)['\"]?\s*\)")
_TOKEN = "__idpiece_{}__"
_TOKEN_RE = re.compile(r"__idpiece_(\d+)__")
DEJAVU_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True)
class LabelConfig:
    """How to rasterise an SVG into (RGB, label).

    size: output side in px (square); alpha_threshold: ownership threshold on a piece's own alpha
    in [0, 1]; squash_same_colour / curate: the paper's two data-cleaning options;
    curation_min_contact: visible contact (px at 512², scaled with size) above which a
    non-consecutive same-colour overlap makes a file ambiguous; method: "isolation" (reference),
    "recolour" (fast; raises where it cannot be exact) or "auto" (recolour where exact);
    max_pieces: refuse files with more possible pieces than this (`TooComplexError`; None = any).
    """

    size: int = 512
    alpha_threshold: float = 0.1
    squash_same_colour: bool = True
    curate: bool = True
    curation_min_contact: int = 16
    method: str = "isolation"
    background: str = "#ffffff"
    max_pieces: int | None = None

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if not 0.0 < self.alpha_threshold <= 1.0:
            raise ValueError(f"alpha_threshold must be in (0, 1], got {self.alpha_threshold}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.max_pieces is not None and self.max_pieces < 1:
            raise ValueError(f"max_pieces must be >= 1 or None, got {self.max_pieces}")


@dataclass(frozen=True)
class LabelledImage:
    """Ground truth of one file.

    rgb: uint8 (S, S, 3) anti-aliased on white; label: uint16 (S, S) dense rank (0 = background,
    1..visible_pieces, higher = front); pieces: painted pieces found; squashed: pieces merged into
    their same-colour predecessor; ambiguous: the curation filter's verdict (False when curation
    is off); method: "isolation" or "recolour"; amodal: per rank r = 1..visible_pieces the full
    mask bool (S, S) of the piece(s) that got rank r (squashed runs united), amodal[r-1]; None
    where the method does not know them (recolour); contact: the curation measure, the largest
    visible contact (px at `size`) of two non-consecutive same-colour pieces (0 when curation is
    off; `ambiguous` is contact >= the scaled `curation_min_contact`).
    """

    rgb: np.ndarray
    label: np.ndarray
    pieces: int
    visible_pieces: int
    squashed: int
    ambiguous: bool
    method: str
    amodal: tuple[np.ndarray, ...] | None = None
    contact: int = 0


class TooComplexError(SvgError):
    """A file over the labelling budget (`LabelConfig.max_pieces`); the message names it."""


@dataclass(frozen=True)
class _Piece:
    leaf: int  # index of the drawable leaf
    kind: str  # "fill", "stroke" or "whole" (images)


@lru_cache(maxsize=1)
def dejavu_fonts() -> tuple[str, ...]:
    """Paths of the installed DejaVu Sans/Serif/Mono fonts (empty when none are installed)."""
    found: list[str] = []
    for folder in DEJAVU_DIRS:
        if folder.is_dir():
            found.extend(str(p) for p in sorted(folder.glob("DejaVu*.ttf")))
    return tuple(found)


def render_svg(
    svg: str | bytes, width: int, height: int, *, crisp: bool, background: str | None = None
) -> np.ndarray:
    """Render SVG markup to straight-alpha RGBA uint8 (height, width, 4) with resvg.

    Fonts are passed explicitly (DejaVu for every generic family) so `<text>` never vanishes.
    `crisp` turns anti-aliasing off for shapes and text.
    """
    if isinstance(svg, bytes):
        svg = svg.decode("utf-8")
    png = resvg_py.svg_to_bytes(
        svg_string=svg,
        width=width,
        height=height,
        background=background,
        skip_system_fonts=True,
        font_files=list(dejavu_fonts()),
        font_family="DejaVu Sans",
        sans_serif_family="DejaVu Sans",
        serif_family="DejaVu Serif",
        monospace_family="DejaVu Sans Mono",
        cursive_family="DejaVu Sans",
        fantasy_family="DejaVu Sans",
        shape_rendering="crisp_edges" if crisp else "geometric_precision",
        text_rendering="optimize_speed" if crisp else "optimize_legibility",
    )
    with Image.open(io.BytesIO(bytes(png))) as image:
        rgba = np.asarray(image.convert("RGBA"))
    if rgba.shape[:2] != (height, width):
        raise SvgError(f"renderer returned {rgba.shape[:2]}, expected {(height, width)}")
    return rgba


def fit_size(size: SvgSize, side: int) -> tuple[int, int, int, int]:
    """(width, height, x offset, y offset) in px: the art fitted into side x side, aspect kept."""
    scale = side / max(size.width, size.height)
    width = min(side, max(1, round(size.width * scale)))
    height = min(side, max(1, round(size.height * scale)))
    return width, height, (side - width) // 2, (side - height) // 2


def _local(element: etree._Element) -> str:
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _style_decls(style: str | None) -> dict[str, str]:
    decls: dict[str, str] = {}
    for part in (style or "").split(";"):
        if ":" in part:
            key, value = part.split(":", 1)
            decls[key.strip().lower()] = value.strip()
    return decls


def _set_style(element: etree._Element, decls: dict[str, str]) -> None:
    if decls:
        element.set("style", ";".join(f"{k}:{v}" for k, v in decls.items()))
    elif "style" in element.attrib:
        del element.attrib["style"]


def _property(element: etree._Element, name: str) -> str | None:
    """Inherited presentation value of `name` from inline styles and attributes (no CSS sheets)."""
    node: etree._Element | None = element
    while node is not None and isinstance(node.tag, str):
        value = _style_decls(node.get("style")).get(name)
        if value is None:
            value = node.get(name)
        if value is not None and value.strip() != "inherit":
            return value.strip()
        node = node.getparent()
    return None


def _href(element: etree._Element) -> str | None:
    value = element.get(f"{{{XLINK_NS}}}href") or element.get("href")
    if value and value.startswith("#"):
        return value[1:]
    return None


def _in_render_tree(element: etree._Element) -> bool:
    node = element.getparent()
    while node is not None:
        if _local(node) in NOT_RENDERED:
            return False
        node = node.getparent()
    return True


def _symbol_transform(symbol: etree._Element, use: etree._Element) -> str:
    """Transform mapping a symbol's viewBox onto the use's width/height (xMidYMid meet)."""
    view_box = symbol.get("viewBox")
    if not view_box:
        return ""
    try:
        vx, vy, vw, vh = (float(v) for v in re.split(r"[\s,]+", view_box.strip()))
        width = float(use.get("width") or vw)
        height = float(use.get("height") or vh)
    except ValueError:
        return ""
    if vw <= 0 or vh <= 0:
        return ""
    scale = min(width / vw, height / vh)
    dx = (width - vw * scale) / 2 - vx * scale
    dy = (height - vh * scale) / 2 - vy * scale
    return f"translate({dx:g},{dy:g}) scale({scale:g})"


def expand_uses(root: etree._Element, name: str = "<svg>", max_depth: int = 16) -> int:
    """Replace every rendered `<use>` by a `<g>` holding a copy of its target; returns the count.

    The copy drops its ids (the original keeps them), so each instance becomes its own leaves.
    """
    expanded = 0
    for _ in range(max_depth):
        ids = {el.get("id"): el for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
        uses = [
            el
            for el in root.iter(f"{{{SVG_NS}}}use")
            if _in_render_tree(el) and el.getparent() is not None
        ]
        if not uses:
            return expanded
        for use in uses:
            target_id = _href(use)
            target = ids.get(target_id) if target_id else None
            group = etree.Element(f"{{{SVG_NS}}}g")
            for key, value in use.attrib.items():
                if key in ("x", "y", "width", "height", "href", f"{{{XLINK_NS}}}href", "id"):
                    continue
                group.set(key, value)
            x = float(use.get("x") or 0)
            y = float(use.get("y") or 0)
            transform = (use.get("transform") or "").strip()
            if x or y:
                transform = f"{transform} translate({x:g},{y:g})".strip()
            if transform:
                group.set("transform", transform)
            if target is not None and not _contains(target, use):
                clone = copy.deepcopy(target)
                for el in clone.iter():
                    if isinstance(el.tag, str) and "id" in el.attrib:
                        del el.attrib["id"]
                if _local(clone) == "symbol":
                    inner = etree.SubElement(group, f"{{{SVG_NS}}}g")
                    symbol_transform = _symbol_transform(target, use)
                    if symbol_transform:
                        inner.set("transform", symbol_transform)
                    for child in list(clone):
                        inner.append(child)
                else:
                    group.append(clone)
            use.getparent().replace(use, group)
            expanded += 1
    raise SvgError(f"{name}: <use> references nest deeper than {max_depth}")


def _contains(ancestor: etree._Element, element: etree._Element) -> bool:
    node: etree._Element | None = element
    while node is not None:
        if node is ancestor:
            return True
        node = node.getparent()
    return False


def drawable_leaves(root: etree._Element) -> list[etree._Element]:
    """Drawable elements of the render tree in document (= paint) order."""
    leaves: list[etree._Element] = []

    def walk(node: etree._Element) -> None:
        for child in node:
            local = _local(child)
            if not local or local in NOT_RENDERED:
                continue
            if local in DRAWABLE:
                leaves.append(child)
            else:
                walk(child)

    walk(root)
    return leaves


def paint_kinds(leaf: etree._Element) -> list[str]:
    """Pieces of a drawable in paint order: ["fill", "stroke"] / ["stroke", "fill"] / ["whole"]."""
    if _local(leaf) == "image":
        return ["whole"]
    order = (_property(leaf, "paint-order") or "normal").split()
    ranked: list[str] = []
    for token in order:
        if token in ("fill", "stroke") and token not in ranked:
            ranked.append(token)
    for token in ("fill", "stroke"):
        if token not in ranked:
            ranked.append(token)
    return ranked


def _referenced_ids(root: etree._Element) -> set[str]:
    refs: set[str] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        target = _href(el)
        if target:
            refs.add(target)
        for value in el.attrib.values():
            if "url(" in value:
                refs.update(_REF_RE.findall(value))
    return refs


def _has_css(root: etree._Element) -> bool:
    return any(
        isinstance(el.tag, str) and (_local(el) == "style" or "class" in el.attrib)
        for el in root.iter()
    )


def _strip_for_labels(root: etree._Element) -> None:
    """Remove filters and per-element rendering hints so crisp edges apply everywhere."""
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for prop in ("filter", *RENDERING_PROPS):
            if prop in el.attrib:
                del el.attrib[prop]
        style = el.get("style")
        if style and any(p in style for p in ("filter", "rendering")):
            decls = _style_decls(style)
            for prop in ("filter", *RENDERING_PROPS):
                decls.pop(prop, None)
            _set_style(el, decls)


def _may_paint(leaf: etree._Element, kind: str, css: bool) -> bool:
    """False only when the piece surely paints nothing (known `none` paint, no CSS sheet)."""
    if kind == "whole" or css:
        return True
    value = _property(leaf, kind)
    if kind == "stroke":
        return value is not None and value != "none"
    return value != "none"


class _IsolationRenderer:
    """Renders single pieces of one SVG from a serialised template (one string join per piece)."""

    def __init__(self, root: etree._Element, width: int, height: int) -> None:
        self.width = width
        self.height = height
        doc = copy.deepcopy(root)
        _strip_for_labels(doc)
        self.leaves = drawable_leaves(doc)
        referenced = _referenced_ids(doc)
        self.styles: list[str] = []
        self.hidden: list[str] = []
        for i, leaf in enumerate(self.leaves):
            style = (leaf.get("style") or "").strip().rstrip(";")
            self.styles.append(style)
            hide = "opacity:0" if leaf.get("id") in referenced else "display:none"
            self.hidden.append(f"{style};{hide}" if style else hide)
            leaf.set("style", _TOKEN.format(i))
        text = etree.tostring(doc, encoding="unicode")
        self.parts = _TOKEN_RE.split(text)

    def render(self, leaf: int, kind: str) -> np.ndarray:
        """Alpha-bearing RGBA (H, W, 4) of one piece alone, crisp, no filters."""
        chunks: list[str] = []
        for j, part in enumerate(self.parts):
            if j % 2 == 0:
                chunks.append(part)
                continue
            index = int(part)
            if index == leaf:
                style = self.styles[index]
                override = {"fill": "stroke:none", "stroke": "fill:none", "whole": ""}[kind]
                value = f"{style};{override}" if style and override else style or override
            else:
                value = self.hidden[index]
            chunks.append(escape(value, {'"': "&quot;"}))
        return render_svg("".join(chunks), self.width, self.height, crisp=True)


def _uniform_colour(rgba: np.ndarray, mask: np.ndarray) -> tuple[int, ...] | None:
    """The single straight RGBA colour of a piece's owned pixels, or None (gradient, texture)."""
    pixels = rgba[mask]
    if len(pixels) == 0:
        return None
    first = pixels[0]
    if np.all(pixels == first):
        return tuple(int(v) for v in first)
    return None


def dense_rank(raw: np.ndarray) -> np.ndarray:
    """Dense rank of a non-negative integer map: 0 stays 0, other values become 1..K in order."""
    values = np.unique(raw)
    values = values[values != 0]
    lut = np.zeros(int(raw.max()) + 1 if raw.size else 1, dtype=np.uint16)
    lut[values] = np.arange(1, len(values) + 1, dtype=np.uint16)
    return lut[raw]


def _squash_groups(colours: list[tuple[int, ...] | None]) -> list[int]:
    """Group id (1-based) per piece: runs of consecutive equal known colours share one id."""
    groups: list[int] = []
    for i, colour in enumerate(colours):
        if i > 0 and colour is not None and colour == colours[i - 1]:
            groups.append(groups[-1])
        else:
            groups.append((groups[-1] if groups else 0) + 1)
    return groups


def _neighbour_of(mask: np.ndarray) -> np.ndarray:
    """Pixels 4-adjacent to `mask` (mask itself included)."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


def is_ambiguous(
    raw: np.ndarray,
    amodal: list[np.ndarray],
    colours: list[tuple[int, ...] | None],
    groups: list[int],
    min_contact: int,
) -> bool:
    """Curation: do two non-consecutive same-colour pieces overlap visibly (contact >=
    `min_contact` px, see `ambiguous_contact`)?"""
    return ambiguous_contact(raw, amodal, colours, groups) >= min_contact


def ambiguous_contact(
    raw: np.ndarray,
    amodal: list[np.ndarray],
    colours: list[tuple[int, ...] | None],
    groups: list[int],
) -> int:
    """The largest visible contact (px) between two non-consecutive same-colour pieces.

    raw: int (H, W) group id per pixel (0 = background); amodal: each piece's own mask; for a
    later group C and an earlier group A (same colour, not consecutive), the contact is the
    number of pixels of C's visible region that lie inside A's own mask and touch A's visible
    region: there the label changes where the picture shows no edge. 0 when there is none.
    """
    by_colour: dict[tuple[int, ...], list[int]] = {}
    for i, colour in enumerate(colours):
        if colour is not None:
            by_colour.setdefault(colour, []).append(i)
    worst = 0
    top = int(raw.max()) if raw.size else 0
    for members in by_colour.values():
        if len({groups[i] for i in members}) < 2:
            continue
        for a_pos, a in enumerate(members):
            later = [c for c in members[a_pos + 1 :] if groups[c] != groups[a] and c != a + 1]
            if not later:
                continue
            visible_a = raw == groups[a]
            if not visible_a.any():
                continue
            touching = _neighbour_of(visible_a) & amodal[a]
            counts = np.bincount(raw[touching], minlength=top + 1)
            worst = max(worst, max(int(counts[groups[c]]) for c in later))
    return worst


def _pad(array: np.ndarray, side: int, x: int, y: int, fill: int) -> np.ndarray:
    out = np.full((side, side, *array.shape[2:]), fill, dtype=array.dtype)
    out[y : y + array.shape[0], x : x + array.shape[1]] = array
    return out


def _recolour_blockers(root: etree._Element) -> list[str]:
    """Why the one-render recolour path could differ from isolation (empty = it cannot)."""
    reasons: list[str] = []
    for el in root.iter():
        local = _local(el)
        if not local:
            continue
        if local in ("style", "linearGradient", "radialGradient", "pattern", "mask", "text"):
            reasons.append(local)
        if local in ("image", "switch", "marker", "filter", "clipPath"):
            reasons.append(local)
        if "class" in el.attrib:
            reasons.append("class")
        decls = {**{k: v for k, v in el.attrib.items() if isinstance(k, str)}}
        decls.update(_style_decls(el.get("style")))
        for key, value in decls.items():
            if key in ("opacity", "fill-opacity", "stroke-opacity") and value.strip() not in (
                "1",
                "1.0",
            ):
                reasons.append(key)
            elif key in ("mask", "clip-path", "filter", "marker-start", "marker-mid", "marker-end"):
                if value.strip() != "none":
                    reasons.append(key)
            elif "currentcolor" in value.lower() or "url(" in value or "var(" in value:
                reasons.append(key)
            elif key in ("fill", "stroke") and _has_alpha_colour(value):
                reasons.append(f"{key} with alpha")
    return sorted(set(reasons))


def _has_alpha_colour(value: str) -> bool:
    text = value.strip().lower()
    if text.startswith(("rgba", "hsla", "transparent")):
        return True
    return text.startswith("#") and len(text) in (5, 9)


def _recolour_label(
    root: etree._Element, width: int, height: int
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One crisp render with a unique colour per piece; returns (piece id map, (leaf, kind) ids).

    Only valid for documents with no `_recolour_blockers`. Piece ids are 1-based in paint order.
    """
    doc = copy.deepcopy(root)
    _strip_for_labels(doc)
    leaves = drawable_leaves(doc)
    order: list[tuple[int, int]] = []
    for i, leaf in enumerate(leaves):
        kinds = paint_kinds(leaf)
        paint: dict[str, str] = {}
        for kind in kinds:
            if _may_paint(leaf, kind, css=False):
                order.append((i, 0 if kind == "fill" else 1))
                piece = len(order)
                paint[kind] = f"#{piece:06x}"
            else:
                paint[kind] = "none"
        decls = _style_decls(leaf.get("style"))
        decls["fill"] = paint.get("fill", "none")
        decls["stroke"] = paint.get("stroke", "none")
        _set_style(leaf, decls)
    rgba = render_svg(etree.tostring(doc, encoding="unicode"), width, height, crisp=True)
    ids = (
        rgba[..., 0].astype(np.int64) * 65536
        + rgba[..., 1].astype(np.int64) * 256
        + rgba[..., 2].astype(np.int64)
    )
    ids[rgba[..., 3] == 0] = 0
    return ids, order


def label_svg_root(
    root: etree._Element, size: SvgSize, config: LabelConfig, name: str = "<svg>"
) -> LabelledImage:
    """Ground truth of a parsed, cleaned SVG root (see module docstring)."""
    width, height, x, y = fit_size(size, config.size)
    # The document's own size becomes the target pixel size, so the renderer cannot round the
    # other side differently (e.g. 1133.86 x 755.906 px at width 512 -> 342 rows, not 341).
    root = copy.deepcopy(root)
    root.set("width", str(width))
    root.set("height", str(height))
    markup = etree.tostring(root, encoding="unicode")
    rgb = render_svg(markup, width, height, crisp=False, background=config.background)[..., :3]

    if not dejavu_fonts() and any(True for _ in root.iter(f"{{{SVG_NS}}}text")):
        raise SvgError(f"{name}: has <text> but no DejaVu fonts were found in {DEJAVU_DIRS[0]}")
    expanded = copy.deepcopy(root)
    expand_uses(expanded, name)
    if config.max_pieces is not None:
        leaves = drawable_leaves(expanded)
        pieces = sum(len(paint_kinds(leaf)) for leaf in leaves)
        if pieces > config.max_pieces:
            raise TooComplexError(
                f"{name}: {pieces} possible pieces ({len(leaves)} drawables) over the limit "
                f"of {config.max_pieces}"
            )
    method = "isolation"
    if config.method != "isolation":
        blockers = _recolour_blockers(expanded)
        if not blockers:
            method = "recolour"
        elif config.method == "recolour":
            raise SvgError(f"{name}: recolour path not exact here ({', '.join(blockers)})")

    threshold = int(np.ceil(config.alpha_threshold * 255))
    if method == "recolour":
        ids, order = _recolour_label(expanded, width, height)
        colours = _piece_colours(expanded, order)
        squash_colours = colours if config.squash_same_colour else [None] * len(order)
        groups = _squash_groups(squash_colours)
        if config.curate and _repeats_non_consecutively(colours):
            method = "isolation"  # the curation filter needs every piece's own mask
        elif not _same_runs_on_visible(squash_colours, groups, np.unique(ids)):
            method = "isolation"  # an unseen piece may or may not split a same-colour run
        else:
            lut = np.zeros(len(order) + 1, dtype=np.int64)
            lut[1:] = groups
            raw = lut[np.clip(ids, 0, len(order))]
            return _finish(rgb, raw, len(order), groups, False, method, config, x, y, None)

    renderer = _IsolationRenderer(expanded, width, height)
    css = _has_css(expanded)
    masks: list[np.ndarray] = []
    colours: list[tuple[int, ...] | None] = []
    for i, leaf in enumerate(renderer.leaves):
        for kind in paint_kinds(leaf):
            if not _may_paint(leaf, kind, css):
                continue
            piece = renderer.render(i, kind)
            mask = piece[..., 3] >= threshold
            if not mask.any():
                continue
            masks.append(mask)
            colours.append(_uniform_colour(piece, mask))
    squash_colours = colours if config.squash_same_colour else [None] * len(colours)
    groups = _squash_groups(squash_colours)
    raw = np.zeros((height, width), dtype=np.int64)
    for mask, group in zip(masks, groups, strict=True):
        raw[mask] = group
    ambiguous, contact = False, 0
    if config.curate and masks:
        min_contact = max(1, round(config.curation_min_contact * config.size / 512))
        contact = ambiguous_contact(raw, masks, colours, groups)
        ambiguous = contact >= min_contact
    amodal = rank_masks(raw, masks, groups)
    result = _finish(rgb, raw, len(masks), groups, ambiguous, method, config, x, y, amodal)
    return dataclasses.replace(result, contact=contact)


def _piece_colours(
    root: etree._Element, order: list[tuple[int, int]]
) -> list[tuple[int, ...] | None]:
    """Declared paint colour (lower-case text) per recolour piece, for squash and curation."""
    leaves = drawable_leaves(root)
    colours: list[tuple[int, ...] | None] = []
    for leaf_index, kind in order:
        value = _property(leaves[leaf_index], "fill" if kind == 0 else "stroke")
        colours.append(_parse_colour(value if value is not None else "#000000"))
    return colours


def _parse_colour(value: str) -> tuple[int, ...] | None:
    """Opaque sRGB colour of a CSS colour string as (r, g, b, 255), or None if not parseable."""
    try:
        rgb = ImageColor.getrgb(value.strip())
    except ValueError:
        return None
    return (*rgb[:3], 255)


def _same_runs_on_visible(
    colours: list[tuple[int, ...] | None], groups: list[int], visible_ids: np.ndarray
) -> bool:
    """True when squashing over the visible pieces only gives the same runs as over all pieces.

    Isolation squashes over the pieces that paint anything (visible or occluded), which one
    recolour render cannot tell apart from empty ones; when both extremes agree, so does it.
    """
    visible = [int(v) - 1 for v in visible_ids if 0 < v <= len(colours)]
    visible_groups = _squash_groups([colours[i] for i in visible])
    for (p, q), (gp, gq) in zip(
        zip(visible, visible[1:], strict=False),
        zip(visible_groups, visible_groups[1:], strict=False),
        strict=True,
    ):
        if (groups[p] == groups[q]) != (gp == gq):
            return False
    return True


def _repeats_non_consecutively(colours: list[tuple[int, ...] | None]) -> bool:
    seen: dict[tuple[int, ...], int] = {}
    for i, colour in enumerate(colours):
        if colour is None:
            continue
        if colour in seen and seen[colour] != i - 1:
            return True
        seen[colour] = i
    return False


def _finish(
    rgb: np.ndarray,
    raw: np.ndarray,
    pieces: int,
    groups: list[int],
    ambiguous: bool,
    method: str,
    config: LabelConfig,
    x: int,
    y: int,
    amodal: list[np.ndarray] | None,
) -> LabelledImage:
    label = dense_rank(raw)
    side = config.size
    full = None if amodal is None else tuple(_pad(m, side, x, y, False) for m in amodal)
    return LabelledImage(
        rgb=_pad(rgb, side, x, y, 255),
        label=_pad(label, side, x, y, 0),
        pieces=pieces,
        visible_pieces=int(label.max()) if label.size else 0,
        squashed=pieces - (groups[-1] if groups else 0),
        ambiguous=ambiguous,
        method=method,
        amodal=full,
    )


def label_svg(path: Path | str, config: LabelConfig | None = None) -> LabelledImage:
    """Ground truth of an SVG file (see module docstring); raises SvgError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SvgError(f"{path}: cannot read ({exc.strerror})") from None
    return label_svg_bytes(data, config or LabelConfig(), str(path))


def label_svg_bytes(data: bytes, config: LabelConfig, name: str = "<svg>") -> LabelledImage:
    """Ground truth of SVG markup; `name` is used in error messages."""
    root = parse_svg(data, name)
    size = clean_svg(root, name)
    try:
        return label_svg_root(root, size, config, name)
    except ValueError as exc:
        if isinstance(exc, SvgError):
            raise
        raise SvgError(f"{name}: cannot render ({exc})") from None
