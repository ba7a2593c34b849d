"""Procedural layered illustrations with exact layer-index labels.

A scene is a bottom-to-top list of pieces (full backgrounds, filled shapes, strokes, outlines
drawn just above their fill, text), each with a flat or gradient paint (optionally fading to
transparent); a paper or canvas texture may be laid over the finished picture. Rendering draws
every piece's coverage at `supersample`x and reduces it, so the RGB is anti-aliased; a piece owns
a pixel where its coverage >= 0.5 (the pixel centre is inside, as with crisp edges) and its paint
alpha >= `alpha_threshold`. Later pieces overwrite earlier ones; the label is the dense rank
(0 = uncovered background, 1..K, higher = nearer the front).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.amodal import rank_masks
from training.svg_labels import dejavu_fonts, dense_rank

SHAPES = ("rect", "rounded", "ellipse", "polygon", "blob")
KINDS = (*SHAPES, "background", "stroke", "outline", "text")
GRADIENTS = ("flat", "linear", "radial")
TEXTURES = ("none", "paper", "canvas")
WORDS = ("ART", "Hi!", "SALE", "42", "ok", "Zap", "Yo", "NEW", "☆", "Aa", "fun", "GO")


@dataclass(frozen=True)
class SyntheticConfig:
    """Scene sampling: size (px, square), piece count range, and probabilities in [0, 1]."""

    size: int = 512
    min_pieces: int = 3
    max_pieces: int = 14
    supersample: int = 2
    alpha_threshold: float = 0.1
    p_background: float = 0.35
    p_outline: float = 0.35
    p_stroke: float = 0.2
    p_text: float = 0.25
    p_gradient: float = 0.3
    p_fade: float = 0.15
    p_translucent: float = 0.1
    p_texture: float = 0.3
    p_nested: float = 0.55
    p_mirror: float = 0.35

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"size must be >= 8, got {self.size}")
        if not 1 <= self.min_pieces <= self.max_pieces:
            raise ValueError(
                f"need 1 <= min_pieces <= max_pieces, got {self.min_pieces}, {self.max_pieces}"
            )
        if self.supersample < 1:
            raise ValueError(f"supersample must be >= 1, got {self.supersample}")


@dataclass(frozen=True)
class Piece:
    """One painted piece. Coordinates are px in the output image (floats, y down).

    kind: one of KINDS; points: polygon/polyline vertices or the (x0, y0, x1, y1) box of
    rect/rounded/ellipse/text; width: stroke/outline width (px); colour/colour2: sRGB 0..255
    (colour2 is the gradient's far end); gradient: "flat" | "linear" | "radial"; fade: the
    gradient's alpha falls from 1 to 0; opacity: in (0, 1]; text: the string of a text piece;
    mirror: x (px) of a vertical axis about which the shape is drawn a second time (eye pairs).
    """

    kind: str
    points: tuple[tuple[float, float], ...]
    colour: tuple[int, int, int]
    colour2: tuple[int, int, int] | None = None
    gradient: str = "flat"
    fade: bool = False
    opacity: float = 1.0
    width: float = 0.0
    shape: str = "rect"
    text: str = ""
    mirror: float | None = None


@dataclass(frozen=True)
class Scene:
    """A bottom-to-top piece list at `size` px plus a texture ("none" | "paper" | "canvas")."""

    size: int
    pieces: tuple[Piece, ...]
    texture: str = "none"
    texture_strength: float = 0.0
    seed: int = 0


@lru_cache(maxsize=32)
def _font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    fonts = [f for f in dejavu_fonts() if f.endswith("DejaVuSans-Bold.ttf")] or list(dejavu_fonts())
    if fonts:
        return ImageFont.truetype(fonts[0], px)
    return ImageFont.load_default(px)


def _random_colour(rng: np.random.Generator, used: list[tuple[int, int, int]]) -> tuple[int, ...]:
    """A saturated or pastel colour at least 40 (L1) from every colour used so far."""
    colour = (0, 0, 0)
    for _ in range(20):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        if all(sum(abs(a - b) for a, b in zip(colour, u, strict=True)) >= 40 for u in used):
            break
    used.append(colour)
    return colour


def _box(rng: np.random.Generator, size: int, centre: tuple[float, float]) -> tuple[float, ...]:
    w = size * rng.uniform(0.12, 0.6)
    h = w * rng.uniform(0.5, 1.6)
    cx = centre[0] + rng.normal(0, size * 0.15)
    cy = centre[1] + rng.normal(0, size * 0.15)
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _child_box(
    rng: np.random.Generator, parent: tuple[float, ...]
) -> tuple[tuple[float, ...], float | None]:
    """A box inside `parent` (a part of an object, like an eye on a face) and, for symmetric
    pairs, the parent's vertical centre line to mirror it about (else None)."""
    x0, y0, x1, y1 = parent
    pw, ph = x1 - x0, y1 - y0
    w = pw * rng.uniform(0.15, 0.5)
    h = min(ph * 0.9, w * rng.uniform(0.5, 1.6))
    cy = rng.uniform(y0 + h / 2, max(y0 + h / 2, y1 - h / 2))
    axis = (x0 + x1) / 2
    if rng.random() < 0.5 and w < pw * 0.4:
        cx = rng.uniform(axis - pw / 2 + w / 2, axis - w / 2 - pw * 0.02)
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), axis
    cx = rng.uniform(x0 + w / 2, max(x0 + w / 2, x1 - w / 2))
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), None


def _shape_points(rng: np.random.Generator, shape: str, box: tuple[float, ...]) -> tuple:
    x0, y0, x1, y1 = box
    if shape in ("rect", "rounded", "ellipse"):
        return ((x0, y0), (x1, y1))
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    if shape == "polygon":
        n = int(rng.integers(3, 9))
        star = rng.random() < 0.4
        angles = np.sort(rng.uniform(0, 2 * math.pi, n)) if not star else None
        pts = []
        if star:
            for k in range(2 * n):
                r = 1.0 if k % 2 == 0 else 0.45
                a = math.pi * k / n
                pts.append((cx + rx * r * math.cos(a), cy + ry * r * math.sin(a)))
        else:
            for a in angles:
                pts.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
        return tuple(pts)
    # blob: a smooth radial function sampled at 48 angles
    phases = rng.uniform(0, 2 * math.pi, 3)
    amps = rng.uniform(0.0, 0.18, 3)
    pts = []
    for k in range(48):
        a = 2 * math.pi * k / 48
        r = 1.0 + sum(
            amp * math.sin((j + 2) * a + ph)
            for j, (amp, ph) in enumerate(zip(amps, phases, strict=True))
        )
        pts.append((cx + rx * r * math.cos(a), cy + ry * r * math.sin(a)))
    return tuple(pts)


def sample_scene(seed: int, config: SyntheticConfig | None = None) -> Scene:
    """A random scene, fully determined by `seed` and `config`."""
    config = config or SyntheticConfig()
    rng = np.random.default_rng(seed)
    size = config.size
    used: list[tuple[int, int, int]] = []
    pieces: list[Piece] = []
    parents: list[tuple[float, ...]] = []
    centre = (size * rng.uniform(0.35, 0.65), size * rng.uniform(0.35, 0.65))
    target = int(rng.integers(config.min_pieces, config.max_pieces + 1))

    def paint() -> dict:
        gradient = "flat"
        colour2 = None
        fade = False
        if rng.random() < config.p_gradient:
            gradient = str(rng.choice(["linear", "radial"]))
            colour2 = _random_colour(rng, used)
            fade = bool(rng.random() < config.p_fade)
        opacity = float(rng.uniform(0.4, 0.9)) if rng.random() < config.p_translucent else 1.0
        return {"colour2": colour2, "gradient": gradient, "fade": fade, "opacity": opacity}

    if rng.random() < config.p_background:
        full = ((0.0, 0.0), (float(size), float(size)))
        p = paint()
        p["fade"] = False
        pieces.append(Piece("background", full, _random_colour(rng, used), **p))
    while len(pieces) < target:
        roll = rng.random()
        if roll < config.p_text:
            box = _box(rng, size, centre)
            height = max(8.0, (box[3] - box[1]) * 0.5)
            text = str(rng.choice(WORDS))
            pieces.append(
                Piece(
                    "text",
                    ((box[0], box[1]), (box[2], box[1] + height)),
                    _random_colour(rng, used),
                    text=text,
                )
            )
        elif roll < config.p_text + config.p_stroke:
            n = int(rng.integers(2, 6))
            pts = tuple(
                (
                    float(centre[0] + rng.normal(0, size * 0.22)),
                    float(centre[1] + rng.normal(0, size * 0.22)),
                )
                for _ in range(n)
            )
            width = float(size * rng.uniform(0.01, 0.05))
            pieces.append(Piece("stroke", pts, _random_colour(rng, used), width=width))
        else:
            shape = str(rng.choice(SHAPES))
            mirror = None
            if parents and rng.random() < config.p_nested:
                box, axis = _child_box(rng, parents[int(rng.integers(len(parents)))])
                mirror = axis if rng.random() < config.p_mirror else None
            else:
                box = _box(rng, size, centre)
            points = _shape_points(rng, shape, box)
            parents.append(box)
            style = paint()
            if mirror is not None:
                style.update(gradient="flat", colour2=None, fade=False)
            colour = _random_colour(rng, used)
            pieces.append(Piece(shape, points, colour, shape=shape, mirror=mirror, **style))
            if rng.random() < config.p_outline and len(pieces) < target:
                dark = tuple(int(v) for v in rng.integers(0, 70, 3))
                while dark in used:
                    dark = tuple(int(v) for v in rng.integers(0, 70, 3))
                used.append(dark)
                width = float(size * rng.uniform(0.008, 0.03))
                outline = Piece("outline", points, dark, width=width, shape=shape, mirror=mirror)
                pieces.append(outline)
    texture = "none"
    strength = 0.0
    if rng.random() < config.p_texture:
        texture = str(rng.choice(["paper", "canvas"]))
        strength = float(rng.uniform(0.03, 0.12))
    return Scene(size, tuple(pieces), texture, strength, seed)


def _coverage(piece: Piece, size: int, ss: int) -> np.ndarray:
    """Coverage of a piece's geometry: float32 (size, size) in [0, 1]."""
    canvas = Image.new("L", (size * ss, size * ss), 0)
    draw = ImageDraw.Draw(canvas)
    pts = [(x * ss, y * ss) for x, y in piece.points]
    width = max(1, round(piece.width * ss))
    if piece.kind == "background":
        draw.rectangle([0, 0, size * ss, size * ss], fill=255)
    elif piece.kind == "text":
        (x0, y0), (_, y1) = pts
        font = _font(max(4, round(y1 - y0)))
        draw.text((x0, y0), piece.text, fill=255, font=font)
    elif piece.kind == "stroke":
        draw.line(pts, fill=255, width=width, joint="curve")
    else:
        outline = piece.kind == "outline"
        style = {"outline": 255, "width": width} if outline else {"fill": 255}
        _draw_shape(draw, piece.shape, pts, style)
        if piece.mirror is not None:
            axis = 2 * piece.mirror * ss
            _draw_shape(draw, piece.shape, [(axis - x, y) for x, y in pts], style)
    if ss > 1:
        canvas = canvas.reduce(ss)
    return np.asarray(canvas, dtype=np.float32) / 255.0


def _draw_shape(
    draw: ImageDraw.ImageDraw, shape: str, pts: list[tuple[float, float]], style: dict
) -> None:
    """Draw one rect/rounded/ellipse (pts = two corners) or polygon/blob (pts = vertices)."""
    if shape == "rect":
        draw.rectangle(_ordered_box(pts), **style)
    elif shape == "rounded":
        box = _ordered_box(pts)
        radius = 0.2 * min(box[2] - box[0], box[3] - box[1])
        draw.rounded_rectangle(box, radius=radius, **style)
    elif shape == "ellipse":
        draw.ellipse(_ordered_box(pts), **style)
    else:
        draw.polygon(pts, **style)


def _ordered_box(pts: list[tuple[float, float]]) -> list[float]:
    (x0, y0), (x1, y1) = pts
    return [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)]


def _paint(piece: Piece, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(colour float32 (size, size, 3) in 0..255, alpha float32 (size, size) in [0, 1])."""
    colour = np.asarray(piece.colour, dtype=np.float32)
    if piece.gradient == "flat" or piece.colour2 is None:
        t = None
    else:
        xs = np.asarray(piece.points, dtype=np.float32)
        lo, hi = xs.min(axis=0), xs.max(axis=0)
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        if piece.gradient == "linear":
            t = (xx - lo[0]) / max(1e-3, float(hi[0] - lo[0]))
        else:
            centre = (lo + hi) / 2
            radius = max(1e-3, float(np.max(hi - lo)) / 2)
            t = np.hypot(xx - centre[0], yy - centre[1]) / radius
        t = np.clip(t, 0.0, 1.0)
    if t is None:
        rgb = np.broadcast_to(colour, (size, size, 3))
        alpha = np.full((size, size), piece.opacity, dtype=np.float32)
    else:
        far = np.asarray(piece.colour2, dtype=np.float32)
        rgb = colour * (1 - t[..., None]) + far * t[..., None]
        alpha = piece.opacity * ((1.0 - t) if piece.fade else np.ones_like(t))
    return rgb, alpha.astype(np.float32)


def _texture(scene: Scene) -> np.ndarray:
    """Multiplicative texture float32 (size, size, 1) around 1.0 (paper fibres or canvas weave)."""
    rng = np.random.default_rng(scene.seed + 7_919)
    size = scene.size
    if scene.texture == "paper":
        small = rng.normal(0, 1, (max(2, size // 8), max(2, size // 8))).astype(np.float32)
        coarse = np.asarray(
            Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC), np.float32
        )
        noise = 0.6 * coarse + 0.4 * rng.normal(0, 1, (size, size)).astype(np.float32)
    else:
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        period = max(3.0, size / 96)
        noise = np.sin(2 * np.pi * xx / period) * np.sin(2 * np.pi * yy / period)
        noise = noise + 0.3 * rng.normal(0, 1, (size, size)).astype(np.float32)
    noise = noise / max(1e-6, float(np.abs(noise).max()))
    return (1.0 + scene.texture_strength * noise)[..., None]


def render_scene(
    scene: Scene, supersample: int = 2, alpha_threshold: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Render a scene: (rgb uint8 (S, S, 3) on white, label uint16 (S, S) dense rank)."""
    rgb, label, _ = render_scene_amodal(scene, supersample, alpha_threshold)
    return rgb, label


def render_scene_amodal(
    scene: Scene, supersample: int = 2, alpha_threshold: float = 0.1
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Render a scene with its amodal masks: (rgb, label, masks), masks[r-1] bool (S, S) is the
    full extent of the piece that got rank r (`training.amodal` format)."""
    size = scene.size
    canvas = np.full((size, size, 3), 255.0, dtype=np.float32)
    raw = np.zeros((size, size), dtype=np.int64)
    owned: list[np.ndarray] = []
    for index, piece in enumerate(scene.pieces, start=1):
        coverage = _coverage(piece, size, supersample)
        colour, alpha = _paint(piece, size)
        a = (coverage * alpha)[..., None]
        canvas = canvas * (1.0 - a) + colour * a
        mask = (coverage >= 0.5) & (alpha >= alpha_threshold)
        raw[mask] = index
        owned.append(mask)
    if scene.texture != "none" and scene.texture_strength > 0:
        canvas = canvas * _texture(scene)
    rgb = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    masks = rank_masks(raw, owned, range(1, len(owned) + 1))
    return rgb, dense_rank(raw), masks


def synthetic_sample(
    seed: int, config: SyntheticConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 (S, S, 3), label uint16 (S, S)) of the scene drawn from `seed`."""
    config = config or SyntheticConfig()
    return render_scene(sample_scene(seed, config), config.supersample, config.alpha_threshold)


def synthetic_sample_amodal(
    seed: int, config: SyntheticConfig | None = None
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """(rgb, label, amodal masks per rank) of the scene drawn from `seed` (see render_scene_amodal)."""
    config = config or SyntheticConfig()
    scene = sample_scene(seed, config)
    return render_scene_amodal(scene, config.supersample, config.alpha_threshold)
