"""Re-create the bundled validation samples from the fetched sources (maintenance script).

    PYTHONPATH=. python tests/data/validation/make_bundle.py --sources /work/data/sources

Every sample is labelled again with the build's settings (isolation, squash, curation measured)
at its own size: the twelve emoji at 256² (their existing label and image must come out
identical, else the script stops), the newer samples at 512². It writes `rgb/`, `label/`,
`amodal/` and `manifest.csv` here; every sample must lie in the validation split of its source.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from training.amodal import save_amodal
from training.dataset_cli import save_png
from training.sources import APPROVED, family_key, open_source, sample_name, split_of
from training.svg_labels import LabelConfig, label_svg

HERE = Path(__file__).resolve().parent
ORIGINAL_SIZE = 256
NEW_SIZE = 512
NEW_SAMPLES = (
    ("openclipart", "animals-mammals__elefante01_architetto_fr_01"),
    ("openclipart", "transportation__motorcycle_jarno_vasama"),
    ("openclipart", "people__rich_young_man_going_aw_01"),
    ("openclipart", "animals-dinosaurs__dinosauro_architetto_fra_01"),
    ("open-peeps", "peep-00973"),
    ("fxemoji", "sailboat"),
    ("streamline-emojis", "ballot-box-with-check"),
)
MAX_PNG_BYTES = 100 * 1024


def existing_rows() -> list[dict[str, str]]:
    with (HERE / "manifest.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=Path, required=True, help="fetch-sources folder")
    args = parser.parse_args()
    rows = [r for r in existing_rows() if r["source"] not in {s for s, _ in NEW_SAMPLES}]
    wanted = [(r["source"], r["name"].split("__", 1)[1], ORIGINAL_SIZE) for r in rows]
    wanted += [(source, stem, NEW_SIZE) for source, stem in NEW_SAMPLES]
    out_rows = []
    for source, stem, size in wanted:
        folder = open_source(args.sources / source)
        path = args.sources / source / "svg" / f"{stem}.svg"
        stems = [p.stem.lower() for p in folder.files]
        if split_of(family_key(source, stem, stems), 0.1) != "val":
            sys.exit(f"{source}/{stem}: not in the validation split")
        result = label_svg(path, LabelConfig(size=size))
        name = sample_name(source, stem)
        if size == ORIGINAL_SIZE:
            label = np.asarray(Image.open(HERE / "label" / f"{name}.png")).astype(np.int64)
            if not np.array_equal(label, result.label.astype(np.int64)):
                sys.exit(f"{name}: re-labelling does not reproduce the bundled label")
        else:
            buffer = io.BytesIO()
            Image.fromarray(result.rgb).save(buffer, format="PNG", compress_level=6)
            if len(buffer.getvalue()) > MAX_PNG_BYTES:
                sys.exit(f"{name}: PNG of {len(buffer.getvalue())} bytes is over the limit")
            save_png(result.rgb, HERE / "rgb" / f"{name}.png")
            save_png(result.label.astype(np.uint16), HERE / "label" / f"{name}.png")
        save_amodal(HERE / "amodal" / f"{name}.npz", result.amodal)
        out_rows.append(
            {
                "name": name,
                "source": source,
                "licence": APPROVED[source].licence,
                "visible_pieces": result.visible_pieces,
                "split": "val",
            }
        )
        print(f"{name}: {result.visible_pieces} pieces, contact {result.contact} px")
    with (HERE / "manifest.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(out_rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(out_rows)


if __name__ == "__main__":
    main()
