"""Render contact sheets of the default model's decompositions for docs/.

    python docs/make_contact_sheet.py   # docs/contact_sheet.png, example_house.png, example_house.svg

The layered SVG's screenshot (docs/example_house_svg_chromium.png) is Debian's Chromium:
    chromium --headless=new --window-size=640,480 --screenshot=docs/example_house_svg_chromium.png \
        docs/example_house.svg

Rows: input, colourised index map (yellow = front), then each layer back -> front on a
checkerboard. Validation images come from tests/data/validation (unseen in training).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from decomposer import decompose, load_model, save
from decomposer.preview import contact_sheet, render_preview

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "tests" / "data" / "validation" / "rgb"
EXAMPLE = ROOT / "examples" / "house.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or preset (default: shipped)")
    parser.add_argument("--layers", default="6", help="layers per image, or 'auto'")
    parser.add_argument("--count", type=int, default=6, help="validation images on the sheet")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    layers = args.layers if args.layers == "auto" else int(args.layers)
    net = load_model(args.model)

    paths = sorted(VALIDATION.glob("*.png"))
    step = max(1, len(paths) // args.count)
    chosen = paths[::step][: args.count]
    results = [decompose(p, layers=layers, model=net) for p in chosen]
    Image.fromarray(contact_sheet(results, tile_size=128)).save(args.out / "contact_sheet.png")

    house = decompose(EXAMPLE, layers=layers, model=net)
    Image.fromarray(render_preview(house, tile_size=160)).save(args.out / "example_house.png")
    save(house, args.out / "example_house.svg", extras=False)
    print(f"wrote contact_sheet.png, example_house.png and example_house.svg in {args.out}")


if __name__ == "__main__":
    main()
