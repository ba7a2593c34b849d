"""The approved sources: family keys, near-duplicate caps, clip-art sampling, iconify wrapping,
Debian clip-art layout and the Open Peeps mask unwrapping (no network: local fixtures)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from training.sources import (
    APPROVED,
    SourceError,
    copy_categorised,
    family_key,
    open_source,
    select_files,
    split_of,
    write_iconify_icons,
    write_unwrapped,
)
from training.svg_clean import SVG_NS, parse_svg, unwrap_canvas_mask
from training.svg_labels import LabelConfig, label_svg, label_svg_bytes

DATA = Path(__file__).resolve().parents[1] / "data" / "svg_labels"


def test_every_new_source_is_approved_with_licence_version_and_attribution() -> None:
    for name in ("openclipart", "streamline-emojis", "flat-color-icons", "fxemoji", "open-peeps"):
        spec = APPROVED[name]
        assert spec.licence and spec.version and spec.attribution and spec.package
    assert APPROVED["fxemoji"].licence == "CC-BY-4.0"  # artwork licence, not info.json's
    assert "Apache-2.0" in APPROVED["fxemoji"].note
    assert APPROVED["open-peeps"].licence == "CC0-1.0"
    assert APPROVED["openclipart"].sampled == ("computer", "shapes")


def test_family_keys_per_source() -> None:
    clip = "openclipart"
    assert family_key(clip, "people__woman_reading_gerald_g._01") == family_key(
        clip, "people__woman_reading_gerald_g._02"
    )
    assert family_key(clip, "people__head14") == family_key(clip, "people__head2")
    assert family_key(clip, "people__chibi_01") == family_key(clip, "recreation__chibi_03")
    assert family_key(clip, "people__chibi_01") != family_key(clip, "people__man_01")
    assert family_key("open-peeps", "peep-00001") != family_key("open-peeps", "peep-00002")
    # iconify: the trailing "-N" of numbered variants goes; emoji names meet other emoji sets
    assert family_key("streamline-emojis", "baby-1") == family_key("streamline-emojis", "baby-3")
    assert family_key("streamline-emojis", "grinning-face") == family_key("twemoji", "1f600")
    assert family_key("noto-emoji", "emoji_u1f44b_1f3fd") == family_key("twemoji", "1f44b")


def _touch(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = folder / f"{name}.svg"
        path.write_text(f"<svg><!-- {name} --></svg>")
        paths.append(path)
    return paths


def test_variant_cap_keeps_the_plain_emoji_and_one_variant(tmp_path: Path) -> None:
    tones = ["1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"]
    names = ["1f44b", *[f"1f44b-{t}" for t in tones], "1f600", "1f601-1f3fb", "1f601-1f3fc"]
    files = _touch(tmp_path, names)
    chosen = select_files("twemoji", files, max_variants=2)
    stems = sorted(p.stem for p in chosen.files)
    waving = [s for s in stems if s.startswith("1f44b")]
    assert len(waving) == 2 and "1f44b" in waving
    assert "1f600" in stems and len([s for s in stems if s.startswith("1f601")]) == 2
    assert chosen.capped_variants == 4
    assert select_files("twemoji", files, max_variants=2) == chosen  # deterministic
    assert len(select_files("twemoji", files, max_variants=0).files) == len(files)
    assert len(select_files("open-peeps", files, max_variants=2).files) == len(files)


def test_byte_identical_files_are_kept_once(tmp_path: Path) -> None:
    files = _touch(tmp_path, ["peep-00000", "peep-00001", "peep-00002"])
    files[2].write_bytes(files[0].read_bytes())
    chosen = select_files("open-peeps", files)
    assert [p.stem for p in chosen.files] == ["peep-00000", "peep-00001"]
    assert chosen.duplicates == 1


def test_clipart_icon_categories_are_sampled_to_a_tenth(tmp_path: Path) -> None:
    names = [f"people__man_{i:02d}" for i in range(90)]
    names += [f"computer-icons-theme__icon{i}" for i in range(300)]
    names += [f"shapes-stars__star{i}" for i in range(200)]
    chosen = select_files("openclipart", _touch(tmp_path, names))
    categories = Counter(p.stem.split("__")[0].split("-")[0] for p in chosen.files)
    assert categories["people"] == 90
    assert categories["computer"] + categories["shapes"] <= 10  # <= 10 % of the selection
    assert categories["computer"] > categories["shapes"] > 0  # in proportion to their size
    assert chosen.sampled_out == 500 - categories["computer"] - categories["shapes"]


def test_split_is_near_a_tenth_of_families_per_source() -> None:
    for source, stems in {
        "open-peeps": [f"peep-{i:05d}" for i in range(3000)],
        "openclipart": [f"animals__animal_{i}_01" for i in range(3000)],
    }.items():
        val = sum(split_of(family_key(source, s), 0.1) == "val" for s in stems)
        assert 0.08 < val / len(stems) < 0.12, source


def test_copy_categorised_flattens_folders_into_category_names(tmp_path: Path) -> None:
    root = tmp_path / "svg"
    (root / "people").mkdir(parents=True)
    (root / "computer" / "icons").mkdir(parents=True)
    shutil.copyfile(DATA / "overlap.svg", root / "people" / "man_01.svg")
    shutil.copyfile(DATA / "overlap.svg", root / "computer" / "icons" / "view+.svg")
    shutil.copyfile(DATA / "overlap.svg", root / "computer" / "icons" / "view-.svg")
    (root / "people" / "notes.txt").write_text("not an svg")
    dest = tmp_path / "out"
    assert copy_categorised(root, dest) == 3
    names = sorted(p.name for p in dest.iterdir())
    assert "people__man_01.svg" in names
    assert len([n for n in names if n.startswith("computer-icons__view")]) == 2


def test_iconify_icons_become_standalone_svgs_that_label(tmp_path: Path) -> None:
    data = {
        "prefix": "test",
        "width": 48,
        "height": 48,
        "icons": {
            "square": {
                "body": '<path fill="#f00" d="M4 4h40v40H4z"/><circle cx="24" '
                'cy="24" r="8" fill="#00f"/>'
            },
            "wide": {
                "body": '<rect width="64" height="32" fill="#0a0"/>',
                "width": 64,
                "height": 32,
            },
            "turned": {"body": "<path d='M0 0h1v1z'/>", "rotate": 1},
        },
        "aliases": {"square-2": {"parent": "square"}},
    }
    count, note = write_iconify_icons(data, tmp_path / "svg")
    assert count == 2 and "1 aliases and 1 rotated/flipped" in note
    result = label_svg(tmp_path / "svg" / "square.svg", LabelConfig(size=48))
    assert result.visible_pieces == 2 and result.label[24, 24] == 2 and result.label[6, 6] == 1
    wide = label_svg(tmp_path / "svg" / "wide.svg", LabelConfig(size=64))
    assert wide.label[:16].max() == 0 and wide.label[32, 32] == 1  # aspect kept, padded
    with pytest.raises(SourceError, match="icons.json: has no icons"):
        write_iconify_icons({"prefix": "x"}, tmp_path / "none")


PEEP = f"""<svg xmlns="{SVG_NS}" viewBox="0 0 100 100" fill="none">
<mask id="viewboxMask"><rect width="100" height="100" rx="0" ry="0" x="0" y="0" fill="#fff" />
</mask><g mask="url(#viewboxMask)"><path d="M10 10h60v60H10z" fill="#edb98a"/>
<path d="M30 30h60v60H30z" fill="#000"/></g></svg>"""


def test_canvas_mask_is_unwrapped_and_real_masks_are_kept(tmp_path: Path) -> None:
    root = parse_svg(PEEP.encode())
    assert unwrap_canvas_mask(root) == 1
    text = etree.tostring(root).decode()
    assert "mask" not in text
    real = PEEP.replace('width="100" height="100" rx', 'width="50" height="100" rx')
    root = parse_svg(real.encode())
    assert (
        unwrap_canvas_mask(root) == 0
        and 'mask="url(#viewboxMask)"' in etree.tostring(root).decode()
    )
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "peep-00000.svg").write_text(PEEP)
    assert write_unwrapped(raw, tmp_path / "svg") == 1
    unwrapped = (tmp_path / "svg" / "peep-00000.svg").read_bytes()
    assert b"mask" not in unwrapped
    before = label_svg_bytes(PEEP.encode(), LabelConfig(size=50, curate=False))
    after = label_svg_bytes(unwrapped, LabelConfig(size=50, curate=False))
    assert np.array_equal(before.label, after.label) and after.visible_pieces == 2
    assert np.abs(before.rgb.astype(int) - after.rgb.astype(int)).max() <= 1


def test_open_source_reads_a_fetched_folder_with_its_licence(tmp_path: Path) -> None:
    folder = tmp_path / "fxemoji"
    _touch(folder / "svg", ["ant", "bee"])
    info = {"name": "fxemoji", "licence": "CC-BY-4.0", "version": "1.2.2", "files": 2}
    (folder / "SOURCE.json").write_text(json.dumps(info))
    opened = open_source(folder)
    assert opened.name == "fxemoji" and opened.licence == "CC-BY-4.0" and len(opened.files) == 2
