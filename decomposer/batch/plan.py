"""Planning: input arguments (files, folders, globs) -> jobs (input file, output path), streamed.

- A folder is scanned recursively, one directory at a time, sorted by name, and jobs come out as
  the scan goes: a million-file tree is never listed into memory at once. Outputs mirror the
  tree under the output folder (or sit next to each input when there is none).
- Name collisions (`a.png` and `a.jpg` both -> `a.psd`) and outputs that would replace their own
  input are found while planning: the first input in plan order keeps the output, the others get
  a `conflict` message that names both files. `Plan.survey()` walks the plan once without
  running anything, so a caller can report every collision and the total up front.
- Hidden entries, our own temp files, our own PNG stacks, the output folders themselves (when
  they lie inside an input folder) and, in folders and glob matches, the files the journal
  records as this tool's outputs (`Plan.own_outputs`: an `a.svg` written next to `a.png` on an
  earlier run) are never taken as inputs.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from decomposer.atomic import is_temp_name
from decomposer.batch.jobs import Job
from decomposer.errors import InvalidOptionError
from decomposer.image_io import SVG_SUFFIXES
from decomposer.writers import default_output_path
from decomposer.writers.png_stack import MANIFEST_FORMAT, MANIFEST_NAME

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif") + SVG_SUFFIXES
GLOB_CHARS = frozenset("*?[")
MAX_LISTED_CONFLICTS = 100  # Survey keeps this many conflict messages (all are counted)


def has_glob(argument: str) -> bool:
    """True when the argument contains glob wildcards (`*`, `?`, `[`)."""
    return bool(GLOB_CHARS & set(argument))


def _is_our_png_stack(folder: Path) -> bool:
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _is_candidate(name: str) -> bool:
    return not name.startswith(".") and not is_temp_name(name)


def scan_folder(folder: Path, exclude: Iterable[Path] = ()) -> Iterator[list[Path]]:
    """Image files under `folder`, one list per directory (sorted), directories in sorted
    depth-first order; lazily. Skips hidden/temp entries, our own PNG stacks and the folders in
    `exclude` (resolved output folders that lie inside the input)."""
    excluded = set(exclude)
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if _is_candidate(d)
            and not _is_our_png_stack(here / d)
            and (here / d).resolve() not in excluded
        )
        found = [
            here / name
            for name in sorted(files)
            if _is_candidate(name) and Path(name).suffix.lower() in IMAGE_SUFFIXES
        ]
        if found:
            yield found


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    static: list[str] = []
    for part in Path(pattern).parts:
        if has_glob(part):
            break
        static.append(part)
    return Path(*static) if static else Path(".")


def _globbed(argument: str) -> list[Path]:
    """Files a glob pattern matches: images, plus files with the pattern's own literal suffix
    (so `*.psd` takes PSDs while `*` skips earlier outputs and non-images)."""
    literal = Path(argument).suffix.lower()
    wanted = set(IMAGE_SUFFIXES) | ({literal} if literal and not has_glob(literal) else set())
    matches = sorted(Path(m) for m in glob.glob(argument, recursive=True))
    return [
        m for m in matches if m.is_file() and _is_candidate(m.name) and m.suffix.lower() in wanted
    ]


@dataclass(frozen=True)
class PlannedJob:
    """A job and, when it cannot run, why (a one-line message naming both files)."""

    job: Job
    conflict: str | None = None


@dataclass
class Survey:
    """What a plan holds: the number of inputs and the conflicts among them (the first
    `MAX_LISTED_CONFLICTS` messages; `conflict_count` counts them all)."""

    total: int = 0
    conflict_count: int = 0
    conflicts: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Plan:
    """Inputs -> jobs. inputs: files, folders or glob patterns, as given. output_dir: the folder
    the tree is mirrored into (None: next to each input). format: an output format's name
    (`decomposer.writers`). depth_dir: where index maps go (16-bit PNGs, tree mirrored), or
    None. own_outputs: whether a file is one of this tool's outputs (`Journal.wrote`); such files
    found in folders or by patterns are not inputs (a file named as an argument still is)."""

    inputs: tuple[str, ...]
    output_dir: Path | None
    format: str
    depth_dir: Path | None = None
    own_outputs: Callable[[Path], bool] | None = None

    def check(self) -> None:
        """Raise InvalidOptionError for an argument that is missing or matches nothing."""
        for argument in self.inputs:
            path = Path(argument)
            if path.is_dir() or path.is_file():
                continue
            if has_glob(argument):
                if not _globbed(argument):
                    raise InvalidOptionError(f"{argument}: the pattern matches no image files")
                continue
            raise InvalidOptionError(f"{argument}: no such file or folder")

    def journal_folder(self) -> Path:
        """Where the journal and the lock live: the output folder, or else the common folder of
        the input arguments (a folder itself, a file's or a pattern's folder)."""
        if self.output_dir is not None:
            return self.output_dir
        folders = []
        for argument in self.inputs:
            path = Path(argument)
            if path.is_dir():
                folders.append(path.resolve())
            elif has_glob(argument) and not path.is_file():
                folders.append(_glob_root(argument).resolve())
            else:
                folders.append(path.resolve().parent)
        return Path(os.path.commonpath([str(f) for f in folders])) if folders else Path.cwd()

    def _groups(self) -> Iterator[list[tuple[Path, Path]]]:
        """(file, path relative to its argument's root), one list per directory or argument."""
        exclude = [f.resolve() for f in (self.output_dir, self.depth_dir) if f is not None]
        ours = self.own_outputs or (lambda file: False)
        for argument in self.inputs:
            path = Path(argument)
            if path.is_dir():
                for files in scan_folder(path, exclude):
                    pairs = [(f, f.relative_to(path)) for f in files if not ours(f)]
                    if pairs:
                        yield pairs
            elif path.is_file():
                yield [(path, Path(path.name))]
            elif has_glob(argument):
                root = _glob_root(argument)
                pairs = []
                for file in _globbed(argument):
                    if ours(file):
                        continue
                    try:
                        pairs.append((file, file.relative_to(root)))
                    except ValueError:
                        pairs.append((file, Path(file.name)))
                yield pairs

    def _job(self, source: Path, relative: Path) -> Job:
        if self.output_dir is None:
            output = default_output_path(source, self.format)
        else:
            output = default_output_path(self.output_dir / relative, self.format)
        depth = None
        if self.depth_dir is not None:
            depth = (self.depth_dir / relative).with_name(f"{relative.stem}_index.png")
        return Job(source, output, depth)

    def __iter__(self) -> Iterator[PlannedJob]:
        """The jobs, streamed in plan order, each with its conflict (None when it can run).

        With one folder argument outputs can only collide inside one directory, so memory stays
        bounded by the largest directory; with several arguments or patterns every output seen
        is remembered (one path per input).
        """
        global_outputs = len(self.inputs) > 1 or any(not Path(a).is_dir() for a in self.inputs)
        outputs: dict[Path, Path] = {}
        sources: set[Path] = set()
        for group in self._groups():
            if not global_outputs:
                outputs = {}
            for source, relative in group:
                resolved_source = source.resolve()
                if global_outputs:
                    if resolved_source in sources:
                        continue  # the same file given twice
                    sources.add(resolved_source)
                job = self._job(source, relative)
                output = job.output.resolve()
                if output == resolved_source:
                    yield PlannedJob(
                        job,
                        f"{source}: the output would overwrite the input; "
                        "choose another -o or --format",
                    )
                elif output in outputs:
                    yield PlannedJob(
                        job,
                        f"{source}: output {job.output} is also the output of {outputs[output]}",
                    )
                else:
                    outputs[output] = source
                    yield PlannedJob(job)

    def survey(self) -> Survey:
        """Walk the plan once: the number of inputs and every conflict (nothing is read)."""
        survey = Survey()
        for planned in self:
            survey.total += 1
            if planned.conflict is not None:
                survey.conflict_count += 1
                if len(survey.conflicts) < MAX_LISTED_CONFLICTS:
                    survey.conflicts.append(planned.conflict)
        return survey
