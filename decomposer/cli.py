"""The `decompose` command: flat illustration(s) in, layered PSD / ORA / PNG stack / SVG out.

Exit codes: 0 all done, 1 some files failed, 2 usage error or bad input, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from decomposer.batch import (
    DONE,
    FAILED,
    SKIPPED,
    BatchCallbacks,
    BatchReport,
    FileResult,
    Job,
    Journal,
    RunOptions,
    journal_path_for,
    plan_jobs,
    process_file,
    run_batch,
)
from decomposer.completion import COMPLETION_MODES
from decomposer.errors import DecomposerError, ImageLoadError, InvalidOptionError
from decomposer.image_io import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from decomposer.options import DecomposeOptions
from decomposer.writers import (
    DEFAULT_FORMAT,
    FORMATS,
    default_output_path,
    format_for_path,
    formats,
)
from decomposer.writers.png_stack import MANIFEST_NAME

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_FILE_SUFFIXES = frozenset(suffix for f in formats() for suffix in f.suffixes)

EXAMPLES = """\b
Examples:
  decompose art.png                        # writes art.psd next to art.png (6 layers)
  decompose art.png -o art.psd --layers 8
  decompose art.png --layers auto --format ora --verify
  decompose art.png -o art.svg --layers 6   # layered SVG (Inkscape layers, traced shapes)
  decompose logo.svg -o logo.psd --svg-size 2048
  decompose art.png -o art.psd --depth-out art_index.png --timings
  decompose art.png --preview sheet.png     # also a contact sheet: input, index map, layers
  decompose scans/ -o layered/ --workers 2 --report report.json
  decompose "sketches/**/*.png" -o out/ --format png --dry-run
  decompose art.png --model tiny --json     # machine-readable result on stdout
\b
A batch (several inputs, a glob or a folder) mirrors the folder tree under -o and resumes by
default: files already done with the same input and options are skipped (journal
.decompose-journal.jsonl in the output folder); --overwrite redoes them. Ctrl-C stops cleanly.
Exit codes: 0 all done, 1 some files failed, 2 usage error or bad input, 130 interrupted.
"""


@dataclass(frozen=True)
class Ui:
    """Where and how results are shown.

    console: progress and summaries on stderr (silent with -q); errors: stderr, always shown.
    """

    console: Console
    errors: Console
    verbose: bool = False
    as_json: bool = False
    timings: bool = False


class LayerCount(click.ParamType):
    """A positive layer count or "auto"."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None):
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif str(value).strip().lower() == "auto":
            return "auto"
        else:
            try:
                number = int(str(value))
            except ValueError:
                self.fail(f"{value!r} is neither a whole number nor 'auto'", param, ctx)
        if number < 1:
            self.fail(f"{value} is not a positive layer count", param, ctx)
        return number


def _stderr(quiet: bool = False) -> Console:
    return Console(stderr=True, quiet=quiet, highlight=False, soft_wrap=True)


def _fail(console: Console, message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)


def _warn(console: Console, message: str) -> None:
    console.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def _dir_like(path: Path) -> bool:
    """-o names a folder to put outputs in (not the output itself)."""
    text = str(path)
    if text.endswith(("/", os.sep)):
        return True
    return path.is_dir() and not (path / MANIFEST_NAME).is_file()


def _is_single(inputs: tuple[str, ...]) -> bool:
    return len(inputs) == 1 and Path(inputs[0]).is_file()


def _load_model_or_exit(
    ctx: click.Context, name: str | None, console: Console, verbose: bool = False
) -> Any:
    from decomposer import load_model

    started = time.perf_counter()
    try:
        net = load_model(name)
        if verbose:
            seconds = time.perf_counter() - started
            console.print(f"model {name or 'default'} loaded in {seconds:.2f} s", markup=False)
        return net
    except (DecomposerError, OSError, ValueError) as exc:
        _fail(
            console, f"model {name or 'default'}: {str(exc).splitlines()[0] if str(exc) else exc}"
        )
        ctx.exit(EXIT_USAGE)


def _print_timings(console: Console, result: FileResult) -> None:
    table = Table(title=f"stage times, {Path(result.input).name}", show_edge=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in result.timings.items():
        table.add_row(stage, f"{seconds:.3f}")
    table.add_row("total", f"{result.seconds:.3f}")
    console.print(table)


def _print_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXAMPLES)
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Output file (one input) or folder (batch). Default: next to each input, "
    "art.png -> art.psd / art.ora / art.svg / art_layers/.",
)
@click.option(
    "-n",
    "--layers",
    type=LayerCount(),
    default="6",
    show_default=True,
    help="Number of layers, or 'auto' to choose from natural gaps in the predicted order.",
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="; ".join(f"{f.name}: {f.description}" for f in formats())
    + f". Default: from -o's suffix, else {DEFAULT_FORMAT}.",
)
@click.option(
    "-m",
    "--model",
    default=None,
    metavar="PATH|PRESET",
    help="Weights folder/file or a preset name (e.g. tiny); default: the shipped model.",
)
@click.option(
    "--device",
    default=None,
    metavar="NAME",
    help="Torch device: cpu, cuda, cuda:1, mps. Default: best available.",
)
@click.option(
    "--complete",
    "completion",
    type=click.Choice(COMPLETION_MODES),
    default=DecomposeOptions().completion,
    show_default=True,
    help="How the hidden part of each layer is filled in (amodal completion): regions = each "
    "hidden pixel continues one region of its layer in that region's flat colour; nearest = "
    "copies the closest visible colour; harmonic = smooth blend; none = visible pixels only.",
)
@click.option(
    "--depth-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the layer-index map: .png (16-bit, 0 = back, 65535 = front) or .npy "
    "(float32). For a batch: a folder (16-bit PNGs, tree mirrored).",
)
@click.option(
    "--preview",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="One input: also write a PNG contact sheet (input, index map, every layer side by side).",
)
@click.option(
    "--verify", is_flag=True, help="Re-read each written file and check it recomposes the input."
)
@click.option("--timings", is_flag=True, help="Print the time spent in each stage.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("-v", "--verbose", is_flag=True, help="Print more detail, with tracebacks on errors.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the result (or batch report) as JSON on stdout."
)
@click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_PIXELS,
    show_default=True,
    help="Refuse inputs larger than this many pixels (checked before decoding).",
)
@click.option(
    "--svg-size",
    type=click.IntRange(min=1, max=32768),
    default=DecomposeOptions().svg_size,
    show_default=True,
    help="SVG/SVGZ inputs are rendered with this many pixels on their longer side.",
)
@click.option(
    "--no-extras",
    is_flag=True,
    help="Leave out the hidden extra layers (original image, index map).",
)
@click.option(
    "-w",
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Batch: files processed in parallel (threads sharing one model).",
)
@click.option("--overwrite", is_flag=True, help="Batch: redo files already done (no resume).")
@click.option("--dry-run", is_flag=True, help="Show what would be done; write nothing.")
@click.option(
    "--report",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write a JSON report: per file status, error, layers, seconds.",
)
@click.pass_context
def main(
    ctx: click.Context,
    inputs: tuple[str, ...],
    output: Path | None,
    layers: int | str,
    fmt: str | None,
    model: str | None,
    device: str | None,
    completion: str,
    depth_out: Path | None,
    preview: Path | None,
    verify: bool,
    timings: bool,
    quiet: bool,
    verbose: bool,
    as_json: bool,
    max_pixels: int,
    svg_size: int,
    no_extras: bool,
    workers: int,
    overwrite: bool,
    dry_run: bool,
    report: Path | None,
) -> None:
    """Turn flat illustrations (PNG, JPEG, WebP, BMP, TIFF, GIF, PSD, SVG) into ordered,
    editable layers: a layered PSD, an OpenRaster file, a PNG stack or a layered SVG, bottom
    layer first."""
    ui = Ui(_stderr(quiet), _stderr(), verbose=verbose, as_json=as_json, timings=timings)
    if quiet and verbose:
        raise click.UsageError("-q and -v cannot be used together")
    single = _is_single(inputs)
    try:
        if preview is not None and preview.suffix.lower() != ".png":
            raise click.UsageError(f"{preview}: --preview must end in .png")
        if single:
            job, fmt = _single_job(Path(inputs[0]), output, fmt, depth_out, preview)
        else:
            if preview is not None:
                raise click.UsageError("--preview works with one input file")
            if output is not None and output.suffix.lower() in _FILE_SUFFIXES:
                raise click.UsageError(f"{output}: with several inputs, -o must be a folder")
            fmt = fmt or DEFAULT_FORMAT
            jobs = plan_jobs(inputs, output, fmt, depth_out)
            if not jobs:
                raise InvalidOptionError(f"{', '.join(inputs)}: no input images found")
    except DecomposerError as exc:  # an input that does not exist or matches nothing
        _fail(ui.errors, str(exc))
        ctx.exit(EXIT_USAGE)
    try:
        how = DecomposeOptions(
            layers=layers, completion=completion, max_pixels=max_pixels, svg_size=svg_size
        )
    except InvalidOptionError as exc:
        raise click.UsageError(str(exc)) from None
    options = RunOptions(
        decompose=how,
        format=fmt,
        extras=not no_extras,
        model=model,
        device=device,
        verify=verify,
    )
    try:
        if single:
            code = _run_single(ctx, job, options, ui, dry_run, report)
        else:
            code = _run_many(ctx, jobs, output, options, ui, workers, overwrite, dry_run, report)
    except KeyboardInterrupt:
        _fail(ui.errors, "interrupted")
        code = EXIT_INTERRUPTED
    ctx.exit(code)


def _single_job(
    source: Path,
    output: Path | None,
    fmt: str | None,
    depth_out: Path | None,
    preview: Path | None = None,
) -> tuple[Job, str]:
    """Output path and format for one input; raises click.UsageError for contradictions."""
    if output is not None and not _dir_like(output):
        try:
            implied = format_for_path(output)
        except ValueError as exc:
            if fmt is None:
                raise click.UsageError(f"{exc} or pass --format") from None
            implied = fmt
        if fmt is not None and implied != fmt:
            raise click.UsageError(f"{output}: the suffix does not match --format {fmt}")
        fmt = implied
        target = output
    else:
        fmt = fmt or DEFAULT_FORMAT
        default = default_output_path(source, fmt)
        target = default if output is None else output / default.name
    if target.resolve() == source.resolve():
        raise InvalidOptionError(
            f"{source}: the output would overwrite the input; pass -o or another --format"
        )
    if depth_out is not None and depth_out.suffix.lower() not in {".png", ".npy"}:
        raise click.UsageError(f"{depth_out}: --depth-out must end in .png or .npy")
    if preview is not None and preview.resolve() in (source.resolve(), target.resolve()):
        raise click.UsageError(f"{preview}: --preview must not be the input or the output")
    return Job(source, target, depth_out, preview), fmt


def _run_single(
    ctx: click.Context,
    job: Job,
    options: RunOptions,
    ui: Ui,
    dry_run: bool,
    report_path: Path | None,
) -> int:
    """One input: always (re)written, no journal. Returns the exit code."""
    console, errors = ui.console, ui.errors
    if dry_run:
        if ui.as_json:
            _print_json({"dry_run": True, "input": str(job.source), "output": str(job.output)})
        else:
            click.echo(f"would write {job.output} from {job.source}")
        return EXIT_OK
    # Decode the input before loading the model: a bad file is reported in well under a second
    # instead of after torch and the weights have loaded. process_file reports the error.
    try:
        image: LoadedImage | None = load_image(
            job.source,
            max_pixels=options.decompose.max_pixels,
            svg_size=options.decompose.svg_size,
        )
    except ImageLoadError:
        image = None
    net = (
        _load_model_or_exit(ctx, options.model, errors, ui.verbose)
        if image is not None
        else options.model
    )
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(f"{job.source.name}: starting", total=None)
        result = process_file(
            job,
            options,
            net,
            on_stage=lambda stage: bar.update(task, description=f"{job.source.name}: {stage}"),
            verbose=ui.verbose,
            image=image,
        )
    for warning in result.warnings:
        _warn(console, warning)
    if result.status == DONE:
        verified = ", verified" if result.verified else ""
        console.print(
            f"{job.source} -> {job.output}: {result.layers} layers{verified} ({result.seconds:.1f} s)",
            markup=False,
            highlight=False,
        )
    else:
        _fail(errors, result.error or f"{job.source}: failed")
    if ui.timings:
        _print_timings(errors if ui.as_json else console, result)
    reported = _write_report(BatchReport([result], seconds=result.seconds), report_path, errors)
    if ui.as_json:
        _print_json(result.to_json())
    if result.status == DONE:
        return EXIT_OK if reported else EXIT_FAILED
    return EXIT_USAGE if result.error_kind == "input" else EXIT_FAILED


def _run_many(
    ctx: click.Context,
    jobs: list[Job],
    output: Path | None,
    options: RunOptions,
    ui: Ui,
    workers: int,
    overwrite: bool,
    dry_run: bool,
    report_path: Path | None,
) -> int:
    """A batch: resume via the journal, progress bar with ETA. Returns the exit code."""
    console, errors = ui.console, ui.errors
    journal = Journal(journal_path_for(jobs, output))
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    task = bar.add_task("decomposing", total=None)

    def planned(total: int) -> None:
        bar.update(task, total=total)
        bar.start()

    def finished(job: Job, result: FileResult) -> None:
        bar.advance(task)
        bar.update(task, description=job.source.name)
        for warning in result.warnings:
            _warn(bar.console, warning)
        if result.status == FAILED:
            _fail(errors if console.quiet else bar.console, result.error or f"{job.source}: failed")
        elif ui.verbose:
            bar.console.print(f"{job.source} -> {job.output}: {result.layers} layers", markup=False)

    callbacks = BatchCallbacks(
        planned=planned,
        started=lambda job: bar.update(task, description=job.source.name),
        finished=finished,
    )
    try:
        report = run_batch(
            jobs,
            options,
            load_model=lambda: _load_model_or_exit(ctx, options.model, errors, ui.verbose),
            journal=journal,
            workers=workers,
            overwrite=overwrite,
            dry_run=dry_run,
            callbacks=callbacks,
            verbose=ui.verbose,
        )
    finally:
        bar.stop()
    if report.interrupted:
        _fail(errors, "interrupted; run the same command again to resume")
    if dry_run and not ui.as_json:
        for result in report.results:
            action = {SKIPPED: "skip (done)", FAILED: "cannot run"}.get(result.status, "process")
            click.echo(f"{action:12} {result.input} -> {result.output}")
    totals = report.totals()
    if not dry_run:
        summary = ", ".join(f"{count} {status}" for status, count in totals.items() if count)
        console.print(f"{summary} in {report.seconds:.1f} s", markup=False, highlight=False)
        if ui.timings:
            _print_batch_timings(errors if ui.as_json else console, report)
    reported = _write_report(report, report_path, errors)
    if ui.as_json:
        _print_json(report.to_json())
    code = report.exit_code()
    return EXIT_FAILED if code == EXIT_OK and not reported else code


def _write_report(report: BatchReport, path: Path | None, errors: Console) -> bool:
    """Write --report if asked; False (and a one-line error) when it cannot be written."""
    if path is None:
        return True
    try:
        report.write(path)
    except OSError as exc:
        _fail(errors, f"{path}: cannot write the report ({exc.strerror or exc})")
        return False
    return True


def _print_batch_timings(console: Console, report: BatchReport) -> None:
    totals: dict[str, float] = {}
    for result in report.results:
        for stage, seconds in result.timings.items():
            totals[stage] = totals.get(stage, 0.0) + seconds
    table = Table(title="stage times, all files", show_edge=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in totals.items():
        table.add_row(stage, f"{seconds:.3f}")
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
