"""Batch runner: plan inputs -> outputs, decompose each file with one shared model, resume safely.

- Inputs are files, globs or folders (scanned recursively); outputs mirror the folder tree under
  the output folder (or sit next to each input when there is none).
- Resume: a journal (`.decompose-journal.jsonl`, JSON lines, in the output root) records each
  finished output with a key = sha256(input content + output-affecting options + model weights
  fingerprint) and the output's size and mtime. A file counts as done only when the journal says so for the same key *and* the
  output is still there unchanged; outputs are written atomically, so a half-written file never
  exists under its final name.
- One bad file never stops the others. The first Ctrl-C sets a stop flag: running files abort at
  their next stage boundary, finished ones stay journaled, and the report marks what did not run.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import glob
import hashlib
import json
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from decomposer.atomic import is_temp_name, write_text_atomic
from decomposer.errors import Cancelled, DecomposerError, ImageLoadError, InvalidOptionError
from decomposer.image_io import SVG_SUFFIXES, LoadedImage
from decomposer.options import DecomposeOptions
from decomposer.preview import write_preview
from decomposer.writers import default_output_path, write_decomposition, write_index_map
from decomposer.writers.png_stack import MANIFEST_FORMAT, MANIFEST_NAME

JOURNAL_NAME = ".decompose-journal.jsonl"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif") + SVG_SUFFIXES
_GLOB_CHARS = set("*?[")

# Per-file statuses in results and reports.
DONE, SKIPPED, FAILED, INTERRUPTED, PLANNED = "done", "skipped", "failed", "interrupted", "planned"


@dataclass(frozen=True)
class RunOptions:
    """Everything that decides how one file is decomposed and written.

    decompose: how the image is decomposed (layers, ordering, completion, max_pixels, ...).
    format: "psd" | "ora" | "png". extras: PSD hidden extra layers. model: the --model value
    (None = shipped default), used in the resume key. device: torch device name or None.
    verify: re-read each written file and check it recomposes the input.
    """

    decompose: DecomposeOptions = field(default_factory=DecomposeOptions)
    format: str = "psd"
    extras: bool = True
    model: str | None = None
    device: str | None = None
    verify: bool = False

    def key_fields(self) -> dict[str, Any]:
        """The options that change what is written (part of the resume key)."""
        return {
            **self.decompose.key_fields(),
            "format": self.format,
            "extras": self.extras,
            "model": self.model or "default",
        }


@dataclass(frozen=True)
class Job:
    """One input file and where its results go.

    depth_out: index-map path or None; preview: PNG contact-sheet path (input, index map and
    every layer side by side, `decomposer.preview`) or None.
    """

    source: Path
    output: Path
    depth_out: Path | None = None
    preview: Path | None = None


@dataclass
class FileResult:
    """Outcome for one input (one entry of the report).

    status: done | skipped | failed | interrupted | planned.
    error_kind: None, "input" (bad input file), "verify" or "error" (anything else).
    seconds: wall time spent on the file; timings: per-stage seconds.
    """

    input: str
    output: str
    status: str
    error: str | None = None
    error_kind: str | None = None
    layers: int | None = None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    verified: bool | None = None
    depth_out: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Report entry (JSON-serialisable)."""
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["timings"] = {k: round(v, 4) for k, v in self.timings.items()}
        return data


# ------------------------------------------------------------------ planning


def _is_our_png_stack(folder: Path) -> bool:
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == MANIFEST_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def scan_folder(folder: Path, exclude: Iterable[Path] = ()) -> list[Path]:
    """Image files under `folder`, recursively, sorted; skips hidden/temp entries, our own PNG
    stacks and the folders in `exclude` (resolved output folders that lie inside the input)."""
    exclude = set(exclude)
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".")
            and not _is_our_png_stack(here / d)
            and (here / d).resolve() not in exclude
        )
        for name in sorted(files):
            if name.startswith(".") or is_temp_name(name):
                continue
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(here / name)
    return found


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard."""
    parts = Path(pattern).parts
    static: list[str] = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        static.append(part)
    return Path(*static) if static else Path(".")


def _globbed(argument: str) -> list[Path]:
    """Files a glob pattern matches: images, plus files with the pattern's own literal suffix
    (so `*.psd` takes PSDs while `*` skips earlier outputs and non-images)."""
    literal = Path(argument).suffix.lower()
    wanted = set(IMAGE_SUFFIXES) | (
        {literal} if literal and not _GLOB_CHARS & set(literal) else set()
    )
    matches = sorted(Path(m) for m in glob.glob(argument, recursive=True))
    return [
        m
        for m in matches
        if m.is_file() and not m.name.startswith(".") and m.suffix.lower() in wanted
    ]


def expand_inputs(inputs: Iterable[str], exclude: Iterable[Path] = ()) -> list[tuple[Path, Path]]:
    """(file, path relative to the argument's root) for every input; raises InvalidOptionError
    for an argument that matches nothing."""
    pairs: list[tuple[Path, Path]] = []
    for argument in inputs:
        path = Path(argument)
        if path.is_dir():
            pairs.extend((f, f.relative_to(path)) for f in scan_folder(path, exclude))
        elif path.is_file():
            pairs.append((path, Path(path.name)))
        elif _GLOB_CHARS & set(argument):
            root = _glob_root(argument)
            files = _globbed(argument)
            if not files:
                raise InvalidOptionError(f"{argument}: the pattern matches no image files")
            for file in files:
                try:
                    pairs.append((file, file.relative_to(root)))
                except ValueError:
                    pairs.append((file, Path(file.name)))
        else:
            raise InvalidOptionError(f"{argument}: no such file or folder")
    return pairs


def plan_jobs(
    inputs: Iterable[str],
    output_dir: Path | None,
    format: str,
    depth_dir: Path | None = None,
) -> list[Job]:
    """Jobs for a batch: outputs mirror each input's relative path under `output_dir` (or sit
    next to the input), index maps as 16-bit PNGs under `depth_dir` likewise."""
    exclude = [folder.resolve() for folder in (output_dir, depth_dir) if folder is not None]
    pairs = expand_inputs(inputs, exclude)
    jobs: list[Job] = []
    seen: set[Path] = set()
    for source, relative in pairs:
        if source.resolve() in seen:
            continue
        seen.add(source.resolve())
        if output_dir is None:
            output = default_output_path(source, format)
        else:
            output = default_output_path(output_dir / relative, format)
        depth = None
        if depth_dir is not None:
            depth = (depth_dir / relative).with_name(f"{relative.stem}_index.png")
        jobs.append(Job(source, output, depth))
    return jobs


def job_conflict(job: Job, earlier: dict[Path, Job]) -> str | None:
    """Why `job` cannot run (its output is its input or another job's output), else None."""
    output = job.output.resolve()
    if output == job.source.resolve():
        return f"{job.source}: the output would overwrite the input; choose another -o or --format"
    if output in earlier:
        return f"{job.source}: output {job.output} is also the output of {earlier[output].source}"
    return None


# ------------------------------------------------------------------ journal


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_fingerprint(spec: str | None) -> str:
    """Identifies the weights a --model value stands for: a preset name as is; for a weights
    folder or file (None = the shipped default) the files' names, sizes and mtimes, so that
    retrained weights invalidate earlier results."""
    import model

    path = model.default_weights_dir() if spec is None else Path(spec)
    if not path.exists():
        return str(spec)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    listing = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return hashlib.sha256(json.dumps(listing).encode("utf-8")).hexdigest()


def resume_key(content_hash: str, options: RunOptions, job: Job, model_id: str = "") -> str:
    """sha256 over the input content hash, the output-affecting options, the model fingerprint
    and whether an index map is requested."""
    payload = json.dumps(
        {
            "input": content_hash,
            "options": options.key_fields(),
            "model": model_id,
            "depth": job.depth_out is not None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _stamp(output: Path) -> list[int] | None:
    """(size, mtime_ns) of the output file (of manifest.json for a PNG stack), None if absent."""
    target = output / MANIFEST_NAME if output.is_dir() else output
    try:
        info = target.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


class Journal:
    """Append-only JSON-lines record of finished outputs, keyed by output path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        if path.is_file():
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self._entries[entry["output"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a crash is simply not a record

    def is_done(self, job: Job, key: str) -> bool:
        """True when the journal holds `key` for this output and the output is unchanged."""
        entry = self._entries.get(str(job.output.resolve()))
        if entry is None or entry.get("key") != key:
            return False
        if job.depth_out is not None and not job.depth_out.is_file():
            return False
        return _stamp(job.output) == entry.get("stamp")

    def record(self, job: Job, key: str, result: FileResult) -> None:
        """Append a finished output (called after its atomic write completed)."""
        entry = {
            "output": str(job.output.resolve()),
            "key": key,
            "input": str(job.source),
            "stamp": _stamp(job.output),
            "layers": result.layers,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self._entries[entry["output"]] = entry


def journal_path_for(jobs: list[Job], output_dir: Path | None) -> Path:
    """The journal lives in the output folder, or in the outputs' common folder."""
    if output_dir is not None:
        return output_dir / JOURNAL_NAME
    parents = [str(job.output.resolve().parent) for job in jobs] or [os.getcwd()]
    return Path(os.path.commonpath(parents)) / JOURNAL_NAME


# ------------------------------------------------------------------ one file


class _StageClock:
    """Progress callback for `decompose`: times stages and aborts when `stop` is set."""

    def __init__(self, stop: threading.Event | None, on_stage: Callable[[str], None] | None):
        self.stop = stop
        self.on_stage = on_stage
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def mark(self, stage: str) -> None:
        """Close the running stage and open `stage` (the label of the work that follows)."""
        now = time.perf_counter()
        if self._stage is not None:
            self.timings[self._stage] = self.timings.get(self._stage, 0.0) + now - self._since
        self._stage, self._since = stage, now
        if self.on_stage is not None:
            self.on_stage(stage)

    def __call__(self, stage: str, fraction: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Cancelled("interrupted")
        if stage != self._stage:
            self.mark(stage)

    def finish(self) -> None:
        """Close the running stage."""
        self.mark("done")
        self.timings.pop("done", None)
        self._stage = None


def process_file(
    job: Job,
    options: RunOptions,
    model: Any,
    *,
    stop: threading.Event | None = None,
    on_stage: Callable[[str], None] | None = None,
    verbose: bool = False,
    image: LoadedImage | None = None,
) -> FileResult:
    """Load, decompose, write (atomically), optionally write the index map and verify one file.

    `image`: the job's input already decoded by the caller (read once, not twice); None reads it.

    Never raises for a per-file problem: the result carries status and a one-line error naming
    the file. Raises nothing but KeyboardInterrupt/SystemExit.
    """
    from decomposer import decompose
    from decomposer.verify import verify_output

    started = time.perf_counter()
    clock = _StageClock(stop, on_stage)
    result = FileResult(input=str(job.source), output=str(job.output), status=FAILED)
    try:
        dec = decompose(
            job.source if image is None else image,
            options.decompose,
            model=model,
            device=options.device,
            progress=clock,
        )
        result.warnings = [_named(job.source, str(w)) for w in dec.info.get("warnings", [])]
        clock("write", 1.0)  # last chance to stop before anything is written
        write_decomposition(dec, job.output, options.format, extras=options.extras)
        if job.depth_out is not None:
            write_index_map(dec.index_map, job.depth_out)
            result.depth_out = str(job.depth_out)
        if job.preview is not None:
            write_preview(dec, job.preview)
        result.layers = len(dec.layers)
        if options.verify:
            clock.mark("verify")
            check = verify_output(job.output, dec.source_rgba, options.format)
            result.verified = check.ok
            if not check.ok:
                result.error, result.error_kind = check.message, "verify"
                return result
        result.status = DONE
    except Cancelled:
        result.status, result.error = INTERRUPTED, f"{job.source}: interrupted"
    except ImageLoadError as exc:
        result.error, result.error_kind = _named(job.source, str(exc)), "input"
    except DecomposerError as exc:
        result.error, result.error_kind = _named(job.source, str(exc)), "error"
    except Exception as exc:  # one bad file must never stop the batch
        message = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        result.error, result.error_kind = _named(job.source, message), "error"
        if verbose:
            result.error += "\n" + traceback.format_exc()
    finally:
        clock.finish()
        result.timings = clock.timings
        result.seconds = time.perf_counter() - started
    return result


def _named(source: Path, message: str) -> str:
    """The message led by the file's path as given (not just its name)."""
    text = str(source)
    if message.startswith(text):
        return message
    if message.startswith(f"{source.name}:"):
        return text + message[len(source.name) :]
    return message if text in message else f"{text}: {message}"


# ------------------------------------------------------------------ the batch


@contextlib.contextmanager
def _first_interrupt_sets(stop: threading.Event) -> Iterator[None]:
    """While active, the first Ctrl-C (SIGINT) only sets `stop` (files in progress abort at their
    next stage boundary, finished ones are recorded); a second one raises KeyboardInterrupt.
    Outside the main thread signals cannot be caught, and nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class BatchReport:
    """What a batch did: one FileResult per planned input, plus whether it was interrupted."""

    results: list[FileResult]
    interrupted: bool = False
    dry_run: bool = False
    journal: str | None = None
    seconds: float = 0.0

    def totals(self) -> dict[str, int]:
        """Count per status."""
        counts = {DONE: 0, SKIPPED: 0, FAILED: 0, INTERRUPTED: 0, PLANNED: 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    def exit_code(self) -> int:
        """0 all done, 1 some failed, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if self.totals()[FAILED] else 0

    def to_json(self) -> dict[str, Any]:
        """The --report / --json document."""
        return {
            "format": "illustrators-depth/batch-report",
            "version": 1,
            "interrupted": self.interrupted,
            "dry_run": self.dry_run,
            "journal": self.journal,
            "seconds": round(self.seconds, 3),
            "totals": self.totals(),
            "files": [result.to_json() for result in self.results],
        }

    def write(self, path: Path) -> Path:
        """Write the report as JSON, atomically."""
        return write_text_atomic(
            path, json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"
        )


@dataclass
class BatchCallbacks:
    """Hooks for a UI: `planned(total_to_do)`, `started(job)`, `finished(job, result)`."""

    planned: Callable[[int], None] = lambda total: None
    started: Callable[[Job], None] = lambda job: None
    finished: Callable[[Job, FileResult], None] = lambda job, result: None


def run_batch(
    jobs: list[Job],
    options: RunOptions,
    *,
    load_model: Callable[[], Any],
    journal: Journal | None,
    workers: int = 1,
    overwrite: bool = False,
    dry_run: bool = False,
    callbacks: BatchCallbacks | None = None,
    verbose: bool = False,
) -> BatchReport:
    """Run `jobs`: skip the ones the journal marks done (unless `overwrite`), decompose the rest
    with a model loaded once (`load_model()`, only if there is work), `workers` at a time.

    Ctrl-C stops cleanly: running files abort at their next stage boundary, finished ones are
    journaled, nothing half-written remains, and the report says interrupted (exit code 130).
    A second Ctrl-C raises KeyboardInterrupt at once (outputs stay atomic).
    """
    callbacks = callbacks or BatchCallbacks()
    started = time.perf_counter()
    report = BatchReport([], dry_run=dry_run, journal=str(journal.path) if journal else None)
    todo: list[tuple[int, Job, str | None]] = []
    outputs: dict[Path, Job] = {}
    model_id = model_fingerprint(options.model) if journal is not None else ""
    for job in jobs:
        result = FileResult(input=str(job.source), output=str(job.output), status=PLANNED)
        report.results.append(result)
        conflict = job_conflict(job, outputs)
        if conflict is not None:
            result.status, result.error, result.error_kind = FAILED, conflict, "error"
            continue
        outputs[job.output.resolve()] = job
        key = None
        if journal is not None:
            try:
                key = resume_key(file_sha256(job.source), options, job, model_id)
            except OSError as exc:
                result.status, result.error_kind = FAILED, "input"
                result.error = f"{job.source}: cannot read: {exc.strerror or exc}"
                continue
            if not overwrite and journal.is_done(job, key):
                result.status = SKIPPED
                continue
        todo.append((len(report.results) - 1, job, key))
    if dry_run or not todo:
        report.seconds = time.perf_counter() - started
        return report

    callbacks.planned(len(todo))
    model = load_model()
    stop = threading.Event()
    pending = list(reversed(todo))
    running: dict[futures.Future[FileResult], tuple[int, Job, str | None]] = {}

    def collect(future: futures.Future[FileResult]) -> None:
        index, job, key = running[future]
        result = future.result()
        report.results[index] = result
        if result.status == DONE and journal is not None and key is not None:
            try:
                journal.record(job, key, result)
            except OSError as exc:  # the output is fine; a later run just redoes it
                result.warnings.append(f"{journal.path}: cannot record {job.output} ({exc})")
        del running[future]
        callbacks.finished(job, result)

    with _first_interrupt_sets(stop), futures.ThreadPoolExecutor(max(1, workers)) as pool:
        while running or (pending and not stop.is_set()):
            while pending and not stop.is_set() and len(running) < max(1, workers):
                index, job, key = pending.pop()
                callbacks.started(job)
                future = pool.submit(process_file, job, options, model, stop=stop, verbose=verbose)
                running[future] = (index, job, key)
            done, _ = futures.wait(running, timeout=0.1, return_when=futures.FIRST_COMPLETED)
            for future in done:
                collect(future)
    if stop.is_set():
        report.interrupted = True
        for index, job, _ in pending:
            report.results[index].status = INTERRUPTED
            report.results[index].error = f"{job.source}: not started (interrupted)"
    report.seconds = time.perf_counter() - started
    return report
