"""`decompose-train fetch-sources` and `decompose-train build-dataset` (click commands).

Dataset layout (docs/ARCHITECTURE.md): `DIR/rgb/NAME.png` (8-bit RGB), `DIR/label/NAME.png`
(16-bit dense rank, 0 = background), `DIR/amodal/NAME.npz` (full mask per rank, `training.amodal`;
SVG isolation labels and synthetic scenes), `DIR/manifest.csv` (name, source, licence,
visible_pieces, split). Beside them: `DIR/build.json` (the settings, checked on resume),
`DIR/labels_log.csv` (one row per processed input: status ok, dropped (curation), empty, skipped
(over the time or piece budget) or error, with piece counts, CPU seconds and the curation's
contact in px), `DIR/manifest_dropped.csv` (the samples the curation filter left out of the
manifest; their files are written too, for uses that want them) and `DIR/stats.json` (counts
per source). Every file is written atomically, so an interrupted build resumes where it
stopped.

Build order: the inputs of each source are shuffled deterministically, then the sources are
interleaved round-robin, and the manifest is rewritten every `FLUSH_EVERY` inputs or
`FLUSH_SECONDS`: any prefix of a running build is a balanced, split-respecting subset that
readers can use (only rows in the manifest count; their files are complete).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import signal
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np
from PIL import Image

from decomposer.atomic import atomic_path, write_text_atomic
from training.amodal import AMODAL_FOLDER, save_amodal
from training.psd_labels import PsdError, label_psd
from training.sources import (
    APPROVED,
    DEFAULT_PEEPS,
    REGISTRY_SOURCES,
    SourceError,
    family_key,
    fetch_all,
    open_source,
    sample_name,
    select_files,
    split_of,
)
from training.svg_clean import SvgError
from training.svg_labels import LabelConfig, TooComplexError, label_svg
from training.synthetic import SyntheticConfig, synthetic_sample_amodal

MANIFEST_FIELDS = ("name", "source", "licence", "visible_pieces", "split")
LOG_FIELDS = (
    "name",
    "source",
    "status",
    "pieces",
    "visible_pieces",
    "squashed",
    "method",
    "reason",
    "seconds",
    "ambiguous_contact",
)
SYNTHETIC_SOURCE = "synthetic"
SYNTHETIC_LICENCE = "Apache-2.0"
FLUSH_EVERY = 100
SAMPLE_STATUSES = ("ok", "dropped")  # statuses whose files are written
FLUSH_SECONDS = 60.0


class DatasetBuildError(ValueError):
    """Bad arguments or an output folder that cannot be resumed; the message names it."""


@dataclass(frozen=True)
class BuildConfig:
    """Settings of one dataset build (stored in build.json; a resume must match them)."""

    size: int = 512
    val_fraction: float = 0.1
    squash: bool = True
    curate: bool = True
    alpha_threshold: float = 0.1
    method: str = "isolation"
    synthetic_seed: int = 0
    max_variants: int = 2  # files kept per family where the source caps variants (0 = all)
    max_pieces: int = 1500  # skip files with more possible pieces (fill + stroke per drawable)
    time_limit: float = 30.0  # skip files whose labelling takes more CPU seconds (0 = no limit)


# What a build made before these settings existed did: no caps, no guards.
LEGACY_SETTINGS = {"max_variants": 0, "max_pieces": 0, "time_limit": 0.0}


class LabelTimeout(Exception):
    """Labelling one input took longer than `BuildConfig.time_limit` CPU seconds."""


@dataclass(frozen=True)
class Task:
    """One input to label: a file (path set) or a synthetic scene (seed set)."""

    name: str
    source: str
    licence: str
    split: str
    path: str | None = None
    seed: int | None = None


def _label_config(config: BuildConfig) -> LabelConfig:
    return LabelConfig(
        size=config.size,
        alpha_threshold=config.alpha_threshold,
        squash_same_colour=config.squash,
        curate=config.curate,
        method=config.method,
        max_pieces=config.max_pieces or None,
    )


def save_png(array: np.ndarray, path: Path) -> None:
    """Write uint8 (H, W, 3) or uint16 (H, W) as PNG atomically (16-bit for uint16)."""
    image = Image.fromarray(array)  # uint16 (H, W) -> mode "I;16", saved as 16-bit PNG
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def _on_cpu_alarm(signum: int, frame: object) -> None:
    raise LabelTimeout


class _CpuTimeLimit:
    """Raise LabelTimeout in this (main) thread after `seconds` of process CPU time (SIGPROF).

    CPU time, not wall time, so that a busy shared machine does not change which files a build
    keeps. No-op for seconds <= 0 or outside the main thread.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.armed = False

    def __enter__(self) -> _CpuTimeLimit:
        if self.seconds > 0:
            try:
                self.previous = signal.signal(signal.SIGPROF, _on_cpu_alarm)
            except ValueError:  # not the main thread
                return self
            signal.setitimer(signal.ITIMER_PROF, self.seconds)
            self.armed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self.armed:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, self.previous)


@dataclass(frozen=True)
class _Labelled:
    """What one task's labeller returns (see `LabelledImage` for the fields)."""

    rgb: np.ndarray
    label: np.ndarray
    amodal: Sequence[np.ndarray] | None
    pieces: int
    squashed: int = 0
    ambiguous: bool = False
    contact: int = 0
    method: str = ""


def _label(task: Task, config: BuildConfig) -> _Labelled:
    """Ground truth of one task: a synthetic scene, a PSD or an SVG."""
    if task.seed is not None:
        synth = SyntheticConfig(size=config.size, alpha_threshold=config.alpha_threshold)
        rgb, label, amodal = synthetic_sample_amodal(task.seed, synth)
        return _Labelled(rgb, label, amodal, int(label.max()), method="synthetic")
    if task.path is not None and task.path.lower().endswith(".psd"):
        result = label_psd(task.path, size=config.size, alpha_threshold=config.alpha_threshold)
        return _Labelled(result.rgb, result.label, None, result.pieces, method="psd")
    r = label_svg(task.path or "", _label_config(config))
    return _Labelled(
        r.rgb, r.label, r.amodal, r.pieces, r.squashed, r.ambiguous, r.contact, r.method
    )


def _write_sample(out: Path, name: str, result: _Labelled) -> None:
    """amodal first and label last, so an existing label PNG means a complete sample."""
    if result.amodal is not None:
        save_amodal(out / AMODAL_FOLDER / f"{name}.npz", result.amodal)
    save_png(np.ascontiguousarray(result.rgb[..., :3]), out / "rgb" / f"{name}.png")
    save_png(result.label.astype(np.uint16), out / "label" / f"{name}.png")


def process_task(task: Task, config: BuildConfig, out: Path) -> dict[str, str]:
    """Label one task and write its files; returns its labels_log row.

    Status: ok (in the manifest), dropped (curation; its files are written too, listed in
    manifest_dropped.csv), empty, skipped (over the time or piece budget) or error.
    """
    row = {"name": task.name, "source": task.source, "status": "ok", "pieces": "0"}
    row.update({"visible_pieces": "0", "squashed": "0", "method": "", "reason": ""})
    row["ambiguous_contact"] = "0"
    start = time.process_time()
    try:
        with _CpuTimeLimit(config.time_limit):
            result = _label(task, config)
    except LabelTimeout:
        row.update(status="skipped", reason=f"over the time limit of {config.time_limit:g} s")
        result = None
    except TooComplexError as exc:
        row.update(status="skipped", reason=str(exc).splitlines()[0][:300])
        result = None
    except (SvgError, PsdError, ValueError, OSError) as exc:
        row.update(status="error", reason=str(exc).splitlines()[0][:300])
        result = None
    row["seconds"] = f"{time.process_time() - start:.2f}"
    if result is None:
        return row
    row.update(
        pieces=str(result.pieces),
        visible_pieces=str(int(result.label.max())),
        squashed=str(result.squashed),
        method=result.method,
        ambiguous_contact=str(result.contact),
    )
    if int(result.label.max()) == 0:
        row.update(status="empty", reason="no visible piece")
        return row
    if result.ambiguous:
        row.update(status="dropped", reason="curation: non-consecutive same-colour overlap")
    _write_sample(out, task.name, result)
    return row


def _worker(args: tuple[Task, BuildConfig, str]) -> tuple[Task, dict[str, str]]:
    task, config, out = args
    return task, process_task(task, config, Path(out))


@dataclass(frozen=True)
class Collected:
    """The inputs of a build in build order, and per source what the caps removed."""

    tasks: list[Task]
    files: dict[str, int]  # source -> files found
    capped: dict[str, int]  # source -> near-duplicate variants over the cap
    sampled_out: dict[str, int]  # source -> files of sampled-down categories left out
    duplicates: dict[str, int]  # source -> byte-identical copies left out


def _shuffled(tasks: list[Task]) -> list[Task]:
    """A deterministic shuffle: by a hash of the name (stable across runs and machines)."""
    return sorted(tasks, key=lambda t: hashlib.sha1(t.name.encode("utf-8")).digest())


def interleave(groups: list[list[Task]]) -> list[Task]:
    """Round-robin over the groups (each in its own order) until all are used up."""
    out: list[Task] = []
    longest = max((len(g) for g in groups), default=0)
    for i in range(longest):
        out.extend(g[i] for g in groups if i < len(g))
    return out


def collect_tasks(
    sources: list[Path], synthetic: int, config: BuildConfig, limit: int | None = None
) -> Collected:
    """Every input of a build, in build order (see the module docstring), with name, licence
    and split; `limit` keeps the first N of each source (after the caps, in build order)."""
    per_source: dict[str, list[Task]] = {}
    files: dict[str, int] = Counter()
    capped: dict[str, int] = Counter()
    sampled_out: dict[str, int] = Counter()
    duplicates: dict[str, int] = Counter()
    seen: set[str] = set()
    for path in sources:
        folder = open_source(path)
        selection = select_files(folder.name, folder.files, config.max_variants)
        files[folder.name] += len(folder.files)
        capped[folder.name] += selection.capped_variants
        sampled_out[folder.name] += selection.sampled_out
        duplicates[folder.name] += selection.duplicates
        stems = [p.stem.lower() for p in folder.files]
        group = per_source.setdefault(folder.name, [])
        for file in selection.files:
            name = sample_name(folder.name, file.stem)
            if name in seen:
                continue
            seen.add(name)
            key = family_key(folder.name, file.stem, stems)
            split = split_of(key, config.val_fraction)
            group.append(Task(name, folder.name, folder.licence, split, path=str(file)))
    if synthetic:
        per_source[SYNTHETIC_SOURCE] = [
            Task(
                sample_name(SYNTHETIC_SOURCE, f"{i:06d}"),
                SYNTHETIC_SOURCE,
                SYNTHETIC_LICENCE,
                "train",
                seed=config.synthetic_seed + i,
            )
            for i in range(synthetic)
        ]
        files[SYNTHETIC_SOURCE] = synthetic
    groups = [_shuffled(group)[:limit] for group in per_source.values()]
    return Collected(
        interleave(groups), dict(files), dict(capped), dict(sampled_out), dict(duplicates)
    )


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _csv_text(rows: list[dict[str, str]], fields: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["name"]):
        writer.writerow(row)
    return buffer.getvalue()


def _check_build_json(out: Path, config: BuildConfig) -> None:
    path = out / "build.json"
    wanted = asdict(config)
    # Settings added after a build was started count as what that build did without them.
    before = {**asdict(BuildConfig()), **LEGACY_SETTINGS}
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise DatasetBuildError(f"{path}: unreadable; use a new --out folder") from None
        diff = sorted(k for k in wanted if stored.get(k, before[k]) != wanted[k])
        if diff:
            raise DatasetBuildError(
                f"{out}: built with other settings ({', '.join(diff)}); use a new --out folder"
            )
    else:
        write_text_atomic(path, json.dumps(wanted, indent=2) + "\n")


def compute_stats(
    log: list[dict[str, str]], tasks: dict[str, Task], collected: Collected | None = None
) -> dict:
    """Per-source counts: files found, capped, inputs labelled, kept, dropped by curation,
    skipped (time/piece budget), failed, pieces, split sizes and CPU seconds per input."""
    per: dict[str, dict] = defaultdict(lambda: Counter())
    pieces: dict[str, list[int]] = defaultdict(list)
    seconds: dict[str, list[float]] = defaultdict(list)
    for row in log:
        source = row["source"]
        per[source]["inputs"] += 1
        per[source][row["status"]] += 1
        per[source]["squashed_pieces"] += int(row.get("squashed") or 0)
        if row.get("seconds"):
            seconds[source].append(float(row["seconds"]))
        if row["status"] == "ok":
            pieces[source].append(int(row["visible_pieces"]))
            task = tasks.get(row["name"])
            if task is not None:
                per[source][task.split] += 1
    planned = Counter(t.source for t in tasks.values())
    stats: dict[str, dict] = {}
    for source in sorted(set(per) | set(planned)):
        counts = per[source]
        values = sorted(pieces[source])
        times = sorted(seconds[source])
        stats[source] = {
            "files": collected.files.get(source, 0) if collected else planned[source],
            "capped_variants": collected.capped.get(source, 0) if collected else 0,
            "sampled_out": collected.sampled_out.get(source, 0) if collected else 0,
            "duplicates": collected.duplicates.get(source, 0) if collected else 0,
            "planned": planned[source],
            "inputs": counts["inputs"],
            "kept": counts["ok"],
            "dropped_curation": counts["dropped"],
            "skipped": counts["skipped"],
            "failed": counts["error"],
            "empty": counts["empty"],
            "squashed_pieces": counts["squashed_pieces"],
            "train": counts["train"],
            "val": counts["val"],
            "visible_pieces_median": statistics.median(values) if values else 0,
            "visible_pieces_p10": values[len(values) // 10] if values else 0,
            "visible_pieces_p90": values[(len(values) * 9) // 10] if values else 0,
            "seconds_median": round(statistics.median(times), 3) if times else 0,
            "seconds_mean": round(statistics.fmean(times), 3) if times else 0,
        }
    return stats


def build(
    sources: list[Path],
    out: Path,
    config: BuildConfig,
    synthetic: int = 0,
    workers: int = 1,
    limit: int | None = None,
    report=print,
    ready_partial: int = 0,
) -> dict:
    """Build (or resume) a dataset in `out`; returns the stats dict (also in stats.json).

    Markers for readers: `out/READY_PARTIAL` once `ready_partial` (> 0) samples are in the
    manifest (their count and the time), `out/READY` when every input is done (the stats table).
    """
    collected = collect_tasks(sources, synthetic, config, limit)
    tasks = collected.tasks
    if not tasks:
        raise DatasetBuildError("nothing to build: give source folders/files or --synthetic N")
    for sub in ("rgb", "label", AMODAL_FOLDER):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _check_build_json(out, config)
    by_name = {t.name: t for t in tasks}
    log = [r for r in _read_csv(out / "labels_log.csv") if r.get("name")]
    done = {
        r["name"]
        for r in log
        if r["status"] not in SAMPLE_STATUSES or (out / "label" / f"{r['name']}.png").is_file()
    }
    log = [r for r in log if r["name"] in done and r["name"] in by_name]
    pending = [t for t in tasks if t.name not in done]
    report(
        f"{len(tasks)} inputs, {len(tasks) - len(pending)} already done, {len(pending)} to label"
    )

    def flush() -> None:
        write_text_atomic(out / "labels_log.csv", _csv_text(log, LOG_FIELDS))
        manifest: dict[str, list[dict[str, str]]] = {"ok": [], "dropped": []}
        for row in log:
            task = by_name.get(row["name"])
            if row["status"] in manifest and task is not None:
                entry = {**row, "licence": task.licence, "split": task.split}
                manifest[row["status"]].append(entry)
        write_text_atomic(out / "manifest.csv", _csv_text(manifest["ok"], MANIFEST_FIELDS))
        write_text_atomic(
            out / "manifest_dropped.csv",
            _csv_text(manifest["dropped"], (*MANIFEST_FIELDS, "ambiguous_contact")),
        )
        stats = compute_stats(log, by_name, collected)
        write_text_atomic(out / "stats.json", json.dumps(stats, indent=2) + "\n")
        kept = len(manifest["ok"])
        marker = out / "READY_PARTIAL"
        if ready_partial > 0 and kept >= ready_partial and not marker.exists():
            write_text_atomic(marker, f"{kept} samples in manifest.csv at {_now()}\n")

    start = last_flush = time.monotonic()
    processed = 0
    try:
        for _task, row in _run_tasks(pending, config, out, workers):
            log.append(row)
            processed += 1
            if row["status"] in ("error", "skipped"):
                report(f"{row['status']}: {row['name']}: {row['reason']}")
            now = time.monotonic()
            if processed % FLUSH_EVERY == 0 or now - last_flush >= FLUSH_SECONDS:
                flush()
                last_flush = now
                rate = processed / max(1e-6, now - start)
                kept = sum(1 for r in log if r["status"] == "ok")
                report(f"[{processed}/{len(pending)}] {rate:.2f} inputs/s, {kept} samples")
    finally:
        flush()
    stats = compute_stats(log, by_name, collected)
    if processed == len(pending):
        text = f"complete at {_now()}: {sum(s['kept'] for s in stats.values())} samples\n\n"
        write_text_atomic(out / "READY", text + stats_table(stats) + "\n")
    return stats


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


def _run_tasks(
    tasks: list[Task], config: BuildConfig, out: Path, workers: int
) -> Iterator[tuple[Task, dict[str, str]]]:
    jobs = [(t, config, str(out)) for t in tasks]
    if workers <= 1:
        for job in jobs:
            yield _worker(job)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield from pool.imap_unordered(_worker, jobs, chunksize=4)


def stats_table(stats: dict) -> str:
    """The per-source stats as a fixed-width text table (printed by build-dataset)."""
    lines = [
        f"{'source':<18}{'files':>7}{'capped':>8}{'inputs':>8}{'kept':>7}{'train':>7}{'val':>6}"
        f"{'dropped':>9}{'skipped':>9}{'failed':>8}{'s/file':>8}  pieces med (p10-p90)"
    ]
    for source, s in stats.items():
        capped = s.get("capped_variants", 0) + s.get("sampled_out", 0) + s.get("duplicates", 0)
        lines.append(
            f"{source:<18}{s.get('files', 0):>7}{capped:>8}{s['inputs']:>8}{s['kept']:>7}"
            f"{s['train']:>7}{s['val']:>6}{s['dropped_curation']:>9}{s.get('skipped', 0):>9}"
            f"{s['failed']:>8}{s.get('seconds_mean', 0):>8.2f}  {s['visible_pieces_median']} "
            f"({s['visible_pieces_p10']}-{s['visible_pieces_p90']})"
        )
    return "\n".join(lines)


def _print_stats(stats: dict) -> None:
    click.echo(stats_table(stats))


@click.command("build-dataset")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--size", default=512, show_default=True, help="Square side of every sample (px).")
@click.option("--workers", default=1, show_default=True, help="Parallel labelling processes.")
@click.option("--synthetic", default=0, show_default=True, help="Procedural scenes to add.")
@click.option("--synthetic-seed", default=0, show_default=True, help="Seed of the first scene.")
@click.option(
    "--val-fraction",
    default=0.1,
    show_default=True,
    help="Share of families (base emoji, clip-art families, seeds) held out, per source.",
)
@click.option(
    "--squash/--no-squash",
    default=True,
    show_default=True,
    help="Merge consecutive same-colour pieces.",
)
@click.option(
    "--curate/--no-curate",
    default=True,
    show_default=True,
    help="Drop files where non-consecutive same-colour pieces overlap visibly.",
)
@click.option(
    "--method",
    type=click.Choice(["isolation", "auto"]),
    default="isolation",
    show_default=True,
    help="SVG labelling: isolation (reference) or auto (one-render recolour where exact).",
)
@click.option(
    "--max-variants",
    default=2,
    show_default=True,
    help="Files kept per emoji family (skin-tone/colour variants; 0 = all).",
)
@click.option(
    "--max-pieces",
    default=1500,
    show_default=True,
    help="Skip files with more possible pieces (fill + stroke per drawable; 0 = no limit).",
)
@click.option(
    "--time-limit",
    default=30.0,
    show_default=True,
    help="Skip files whose labelling takes more CPU seconds (0 = no limit).",
)
@click.option(
    "--limit", type=int, default=None, help="Only the first N inputs of each source (for trials)."
)
@click.option(
    "--ready-partial",
    default=0,
    show_default=True,
    help="Write OUT/READY_PARTIAL once this many samples are in the manifest (0 = never).",
)
def build_dataset(
    sources: tuple[Path, ...],
    out: Path,
    size: int,
    workers: int,
    synthetic: int,
    synthetic_seed: int,
    val_fraction: float,
    squash: bool,
    curate: bool,
    method: str,
    max_variants: int,
    max_pieces: int,
    time_limit: float,
    limit: int | None,
    ready_partial: int,
) -> None:
    """Label SVG/PSD sources (+ synthetic scenes) into rgb/ + label/ + manifest.csv.

    SOURCES are folders from fetch-sources (or ../shared/datasets/noto-emoji) or single
    .svg/.psd files. Re-running with the same --out resumes.

    \b
    Examples:
      decompose-train build-dataset sources/* --out data/emoji256 --size 256 --synthetic 2000
      decompose-train build-dataset art.svg --out data/one --size 512
    """
    if size < 16 or size > 8192:
        raise click.UsageError(f"--size must be in 16..8192, got {size}")
    if not 0.0 <= val_fraction < 1.0:
        raise click.UsageError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    config = BuildConfig(
        size=size,
        val_fraction=val_fraction,
        squash=squash,
        curate=curate,
        method=method,
        synthetic_seed=synthetic_seed,
        max_variants=max(0, max_variants),
        max_pieces=max(0, max_pieces),
        time_limit=max(0.0, time_limit),
    )
    try:
        stats = build(
            list(sources),
            out,
            config,
            synthetic=synthetic,
            workers=max(1, workers),
            limit=limit,
            report=lambda line: click.echo(line, err=True),
            ready_partial=max(0, ready_partial),
        )
    except (SourceError, DatasetBuildError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("interrupted; run the same command again to resume", err=True)
        sys.exit(130)
    _print_stats(stats)
    failed = sum(s["failed"] for s in stats.values())
    click.echo(f"wrote {out} ({sum(s['kept'] for s in stats.values())} samples)")
    if failed:
        click.echo(f"{failed} inputs failed; see {out / 'labels_log.csv'}", err=True)
        sys.exit(1)


def _parse_local(values: tuple[str, ...]) -> list[tuple[str | None, Path]]:
    local: list[tuple[str | None, Path]] = []
    for value in values:
        name, sep, path = value.partition("=")
        if sep and name in APPROVED:
            local.append((name, Path(path)))
        else:
            local.append((None, Path(value)))
    return local


@click.command("fetch-sources")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option(
    "--only",
    multiple=True,
    type=click.Choice(list(REGISTRY_SOURCES)),
    help="Registry sources to fetch (repeatable; default: all).",
)
@click.option(
    "--local",
    multiple=True,
    help="Local approved source folder to copy in, as PATH or NAME=PATH (repeatable).",
)
@click.option("--no-registry", is_flag=True, help="Copy --local folders only; download nothing.")
@click.option(
    "--peeps",
    default=DEFAULT_PEEPS,
    show_default=True,
    help="Open Peeps avatars to generate (one per seed).",
)
def fetch_sources(
    out: Path, only: tuple[str, ...], local: tuple[str, ...], no_registry: bool, peeps: int
) -> None:
    """Download the approved sources through npm/pip and copy local ones into OUT/NAME/svg.

    \b
    Examples:
      decompose-train fetch-sources --out sources/ --local ../shared/datasets/noto-emoji
      decompose-train fetch-sources --out sources/ --only twemoji
    """
    names = [] if no_registry else list(only or REGISTRY_SOURCES)
    try:
        fetch_all(
            out, names, _parse_local(local), report=lambda line: click.echo(line), peeps=peeps
        )
    except SourceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
