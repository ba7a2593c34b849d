"""Render contact sheets of the default model's decompositions for docs/.

    python docs/make_contact_sheet.py   # docs/contact_sheet.png, example_house.png, example_house.svg

The layered SVG's screenshot (docs/example_house_svg_chromium.png) is Debian's Chromium:
    chromium --headless=new --window-size=640,480 --screenshot=docs/example_house_svg_chromium.png \
        docs/example_house.svg

Rows: input, colourised index map (yellow = front), then each layer back -> front on a
checkerboard. Validation images come from tests/data/validation (unseen in training): the
names in SHEET, eight images from six sources, two Open Clip Art scenes among them (picked for
variety before looking at any result: a scene, a vehicle, emoji with many parts, an icon, a
line-art figure).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from decomposer import LazyModel, decompose, save
from decomposer.preview import contact_sheet, render_preview

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "tests" / "data" / "validation" / "rgb"
SHEET = (
    "openclipart__people__rich_young_man_going_aw_01",
    "openclipart__transportation__motorcycle_jarno_vasama",
    "noto-emoji__emoji_u1f94d",
    "twemoji__1f647-1f3fd",
    "openmoji__1F699",
    "fluent-flat__snow-capped-mountain",
    "fxemoji__sailboat",
    "open-peeps__peep-00973",
)
EXAMPLE = ROOT / "examples" / "house.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="network for --ordering median (default: the shipped one)"
    )
    parser.add_argument("--ordering", default="graph", help="graph (the default) or median")
    parser.add_argument("--layers", default="6", help="layers per image, or 'auto'")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    layers = args.layers if args.layers == "auto" else int(args.layers)
    net = LazyModel(args.model)  # loaded only for an ordering that runs the network

    chosen = [VALIDATION / f"{name}.png" for name in SHEET]
    results = [decompose(p, layers=layers, model=net, ordering=args.ordering) for p in chosen]
    Image.fromarray(contact_sheet(results, tile_size=128)).save(args.out / "contact_sheet.png")

    house = decompose(EXAMPLE, layers=layers, model=net, ordering=args.ordering)
    Image.fromarray(render_preview(house, tile_size=160)).save(args.out / "example_house.png")
    save(house, args.out / "example_house.svg", extras=False)
    print(f"wrote contact_sheet.png, example_house.png and example_house.svg in {args.out}")


if __name__ == "__main__":
    main()
