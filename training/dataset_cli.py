"""`decompose-train fetch-sources` and `decompose-train build-dataset` (click commands).

Dataset layout (docs/ARCHITECTURE.md): `DIR/rgb/NAME.png` (8-bit RGB), `DIR/label/NAME.png`
(16-bit dense rank, 0 = background), `DIR/manifest.csv` (name, source, licence, visible_pieces,
split). Beside them: `DIR/build.json` (the settings, checked on resume),
`DIR/labels_log.csv` (one row per processed input: status ok, dropped (curation), empty or error,
with piece counts) and `DIR/stats.json` (counts per source). Every file is written atomically,
so an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import numpy as np
from PIL import Image

from decomposer.atomic import atomic_path, write_text_atomic
from training.psd_labels import PsdError, label_psd
from training.sources import (
    APPROVED,
    REGISTRY_SOURCES,
    SourceError,
    base_key,
    fetch_all,
    open_source,
    sample_name,
    split_of,
)
from training.svg_clean import SvgError
from training.svg_labels import LabelConfig, label_svg
from training.synthetic import SyntheticConfig, synthetic_sample

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
)
SYNTHETIC_SOURCE = "synthetic"
SYNTHETIC_LICENCE = "Apache-2.0"
FLUSH_EVERY = 100


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
    )


def save_png(array: np.ndarray, path: Path) -> None:
    """Write uint8 (H, W, 3) or uint16 (H, W) as PNG atomically (16-bit for uint16)."""
    image = Image.fromarray(array)  # uint16 (H, W) -> mode "I;16", saved as 16-bit PNG
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


def process_task(task: Task, config: BuildConfig, out: Path) -> dict[str, str]:
    """Label one task and write its PNGs (unless dropped); returns its labels_log row."""
    row = {"name": task.name, "source": task.source, "status": "ok", "pieces": "0"}
    row.update({"visible_pieces": "0", "squashed": "0", "method": "", "reason": ""})
    try:
        if task.seed is not None:
            synth = SyntheticConfig(size=config.size, alpha_threshold=config.alpha_threshold)
            rgb, label = synthetic_sample(task.seed, synth)
            pieces, squashed, ambiguous, method = int(label.max()), 0, False, "synthetic"
        elif task.path is not None and task.path.lower().endswith(".psd"):
            result = label_psd(task.path, size=config.size, alpha_threshold=config.alpha_threshold)
            rgb, label = result.rgb, result.label
            pieces, squashed, ambiguous, method = result.pieces, 0, False, "psd"
        else:
            result = label_svg(task.path or "", _label_config(config))
            rgb, label = result.rgb, result.label
            pieces, squashed, ambiguous, method = (
                result.pieces,
                result.squashed,
                result.ambiguous,
                result.method,
            )
    except (SvgError, PsdError, ValueError, OSError) as exc:
        row.update(status="error", reason=str(exc).splitlines()[0][:300])
        return row
    row.update(
        pieces=str(pieces),
        visible_pieces=str(int(label.max())),
        squashed=str(squashed),
        method=method,
    )
    if ambiguous:
        row.update(status="dropped", reason="curation: non-consecutive same-colour overlap")
        return row
    if int(label.max()) == 0:
        row.update(status="empty", reason="no visible piece")
        return row
    save_png(np.ascontiguousarray(rgb[..., :3]), out / "rgb" / f"{task.name}.png")
    save_png(label.astype(np.uint16), out / "label" / f"{task.name}.png")
    return row


def _worker(args: tuple[Task, BuildConfig, str]) -> tuple[Task, dict[str, str]]:
    task, config, out = args
    return task, process_task(task, config, Path(out))


def collect_tasks(
    sources: list[Path], synthetic: int, config: BuildConfig, limit: int | None = None
) -> list[Task]:
    """Every input of a build (the first `limit` of each source), with name, licence, split."""
    tasks: list[Task] = []
    seen: set[str] = set()
    for path in sources:
        folder = open_source(path)
        stems = [p.stem.lower() for p in folder.files]
        for file in folder.files[:limit]:
            name = sample_name(folder.name, file.stem)
            if name in seen:
                continue
            seen.add(name)
            key = base_key(file.stem, stems)
            tasks.append(
                Task(
                    name,
                    folder.name,
                    folder.licence,
                    split_of(key, config.val_fraction),
                    path=str(file),
                )
            )
    for i in range(synthetic):
        name = sample_name(SYNTHETIC_SOURCE, f"{i:06d}")
        tasks.append(
            Task(name, SYNTHETIC_SOURCE, SYNTHETIC_LICENCE, "train", seed=config.synthetic_seed + i)
        )
    return tasks


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
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise DatasetBuildError(f"{path}: unreadable; use a new --out folder") from None
        diff = sorted(k for k in wanted if stored.get(k) != wanted[k])
        if diff:
            raise DatasetBuildError(
                f"{out}: built with other settings ({', '.join(diff)}); use a new --out folder"
            )
    else:
        write_text_atomic(path, json.dumps(wanted, indent=2) + "\n")


def compute_stats(log: list[dict[str, str]], tasks: dict[str, Task]) -> dict:
    """Per-source counts: inputs, kept, dropped by curation, failed, pieces and split sizes."""
    per: dict[str, dict] = defaultdict(lambda: Counter())
    pieces: dict[str, list[int]] = defaultdict(list)
    for row in log:
        source = row["source"]
        per[source]["inputs"] += 1
        per[source][row["status"]] += 1
        per[source]["squashed_pieces"] += int(row.get("squashed") or 0)
        if row["status"] == "ok":
            pieces[source].append(int(row["visible_pieces"]))
            task = tasks.get(row["name"])
            if task is not None:
                per[source][task.split] += 1
    stats: dict[str, dict] = {}
    for source in sorted(per):
        counts = per[source]
        values = sorted(pieces[source])
        stats[source] = {
            "inputs": counts["inputs"],
            "kept": counts["ok"],
            "dropped_curation": counts["dropped"],
            "failed": counts["error"],
            "empty": counts["empty"],
            "squashed_pieces": counts["squashed_pieces"],
            "train": counts["train"],
            "val": counts["val"],
            "visible_pieces_median": statistics.median(values) if values else 0,
            "visible_pieces_p10": values[len(values) // 10] if values else 0,
            "visible_pieces_p90": values[(len(values) * 9) // 10] if values else 0,
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
) -> dict:
    """Build (or resume) a dataset in `out`; returns the stats dict (also in stats.json)."""
    tasks = collect_tasks(sources, synthetic, config, limit)
    if not tasks:
        raise DatasetBuildError("nothing to build: give source folders/files or --synthetic N")
    for sub in ("rgb", "label"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    _check_build_json(out, config)
    by_name = {t.name: t for t in tasks}
    log = [r for r in _read_csv(out / "labels_log.csv") if r.get("name")]
    done = {
        r["name"]
        for r in log
        if r["status"] != "ok" or (out / "label" / f"{r['name']}.png").is_file()
    }
    log = [r for r in log if r["name"] in done]
    pending = [t for t in tasks if t.name not in done]
    report(
        f"{len(tasks)} inputs, {len(tasks) - len(pending)} already done, {len(pending)} to label"
    )

    def flush() -> None:
        write_text_atomic(out / "labels_log.csv", _csv_text(log, LOG_FIELDS))
        manifest = []
        for row in log:
            task = by_name.get(row["name"])
            if row["status"] == "ok" and task is not None:
                manifest.append({**row, "licence": task.licence, "split": task.split})
        write_text_atomic(out / "manifest.csv", _csv_text(manifest, MANIFEST_FIELDS))

    start = time.monotonic()
    processed = 0
    try:
        for _task, row in _run_tasks(pending, config, out, workers):
            log.append(row)
            processed += 1
            if row["status"] == "error":
                report(f"failed: {row['reason']}")
            if processed % FLUSH_EVERY == 0:
                flush()
                rate = processed / max(1e-6, time.monotonic() - start)
                report(f"[{processed}/{len(pending)}] {rate:.2f} inputs/s")
    finally:
        flush()
    stats = compute_stats(log, by_name)
    write_text_atomic(out / "stats.json", json.dumps(stats, indent=2) + "\n")
    return stats


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


def _print_stats(stats: dict) -> None:
    header = (
        f"{'source':<14}{'inputs':>8}{'kept':>8}{'dropped':>9}{'failed':>8}{'squashed':>10}"
        f"{'train':>8}{'val':>6}  pieces med (p10-p90)"
    )
    click.echo(header)
    for source, s in stats.items():
        click.echo(
            f"{source:<14}{s['inputs']:>8}{s['kept']:>8}{s['dropped_curation']:>9}{s['failed']:>8}"
            f"{s['squashed_pieces']:>10}{s['train']:>8}{s['val']:>6}  {s['visible_pieces_median']} "
            f"({s['visible_pieces_p10']}-{s['visible_pieces_p90']})"
        )


@click.command("build-dataset")
@click.argument("sources", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output folder.")
@click.option("--size", default=512, show_default=True, help="Square side of every sample (px).")
@click.option("--workers", default=1, show_default=True, help="Parallel labelling processes.")
@click.option("--synthetic", default=0, show_default=True, help="Procedural scenes to add.")
@click.option("--synthetic-seed", default=0, show_default=True, help="Seed of the first scene.")
@click.option(
    "--val-fraction", default=0.1, show_default=True, help="Share of base emoji held out."
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
    "--limit", type=int, default=None, help="Only the first N inputs of each source (for trials)."
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
    limit: int | None,
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
def fetch_sources(
    out: Path, only: tuple[str, ...], local: tuple[str, ...], no_registry: bool
) -> None:
    """Download the approved sources through npm/pip and copy local ones into OUT/NAME/svg.

    \b
    Examples:
      decompose-train fetch-sources --out sources/ --local ../shared/datasets/noto-emoji
      decompose-train fetch-sources --out sources/ --only twemoji
    """
    names = [] if no_registry else list(only or REGISTRY_SOURCES)
    try:
        fetch_all(out, names, _parse_local(local), report=lambda line: click.echo(line))
    except SourceError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
