"""SVG rasterisation with resvg, with fonts fixed (DejaVu for every generic family).

The one renderer for SVG in the project: SVG input (`decomposer.image_io`), the SVG writer's
read-back check, the vector evaluation and training's ground truth (`training.svg_labels`) all
render through `render_svg`, so `<text>` never vanishes and never depends on the fonts a machine
happens to have: system fonts are skipped and DejaVu (Debian `fonts-dejavu-core`) is passed
explicitly.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import resvg_py
from PIL import Image

DEJAVU_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


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
    `crisp` turns anti-aliasing off for shapes and text. `background`: a CSS colour under the
    drawing, None = transparent. Raises ValueError when resvg cannot render the markup.
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
        raise ValueError(f"renderer returned {rgba.shape[:2]}, expected {(height, width)}")
    return rgba
