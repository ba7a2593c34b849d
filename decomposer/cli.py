"""The `decompose` command: flat illustration(s) in, layered PSD / ORA / PNG stack / SVG out.

Exit codes: 0 all done, 1 some files failed, 2 usage error or bad input, 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, replace
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

from decomposer.atomic import TempSweeper, remove_stale_temps
from decomposer.batch import (
    DONE,
    EXECUTORS,
    FAILED,
    JOURNAL_NAME,
    SKIPPED,
    BatchCallbacks,
    BatchLock,
    BatchReport,
    Executor,
    ExecutorSettings,
    FileResult,
    Job,
    Journal,
    ModelSpec,
    Plan,
    RunOptions,
    Survey,
    create_executor,
    process_file,
    run_batch,
)
from decomposer.batch.jobs import INPUT_ERROR
from decomposer.batch.plan import has_glob
from decomposer.completion import COMPLETION_MODES
from decomposer.errors import DecomposerError, ImageLoadError, InvalidOptionError, ModelLoadError
from decomposer.image_io import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from decomposer.options import DecomposeOptions
from decomposer.ordering import DEFAULT_ORDERING, ORDERINGS
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
  decompose /shared/in/ -o /shared/out/ --executor ray --ray-address head:6379
  decompose art.png --json                 # machine-readable result on stdout
  decompose art.png --model runs/small/best # your own trained weights (or a .onnx file)
  decompose art.png --ordering median       # the paper's ordering (runs the network)
\b
Existing files are never replaced unless you pass --overwrite, except outputs that
this tool wrote itself in an earlier run of the same batch (recorded in its journal).
A batch (several inputs, a glob or a folder) mirrors the folder tree under -o and resumes by
default: files already done with the same input, options and model are skipped (journal
.decompose-journal.jsonl in the output folder; --redo converts them again). One batch at a
time per output folder (a lock file next to the journal). Ctrl-C stops cleanly.
With --executor ray, input and output folders must be on storage that every node of the
cluster sees at the same path (docs/SCALING.md).
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
    """One input that names a file (existing or not): not a folder, not a pattern."""
    if len(inputs) != 1 or inputs[0].endswith(("/", os.sep)):
        return False
    path = Path(inputs[0])
    return path.is_file() or (not path.is_dir() and not has_glob(inputs[0]))


def _model_message(spec: ModelSpec, exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # model.load's messages start with the spec they are about; others get it in front
    return text if text.startswith(spec.label) else f"model {spec.label}: {text}"


def _load_model_or_exit(ctx: click.Context, spec: ModelSpec, ui: Ui) -> Any:
    """The network for `spec`, or exit 2 with a one-line error. An untrained random:PRESET's
    warning is one plain line on the console (silent with -q), not Python's warning format."""
    import warnings

    from model.errors import RandomWeightsWarning

    started = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            net = spec.load()
    except (DecomposerError, OSError, ValueError) as exc:
        _fail(ui.errors, _model_message(spec, exc))
        ctx.exit(EXIT_USAGE)
    for w in caught:
        if issubclass(w.category, RandomWeightsWarning):
            ui.console.print(f"warning: {w.message}", markup=False)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    if ui.verbose:
        seconds = time.perf_counter() - started
        ui.errors.print(f"model {spec.label} loaded in {seconds:.2f} s", markup=False)
    return net


def _check_model_spec_or_exit(ctx: click.Context, spec: ModelSpec, ui: Ui) -> None:
    """Exit 2 with a one-line error if `spec` names no model (nothing is loaded)."""
    from decomposer.pipeline import check_model

    try:
        check_model(spec.weights)
    except ModelLoadError as exc:
        _fail(ui.errors, _model_message(spec, exc))
        ctx.exit(EXIT_USAGE)


def _needs_net(how: DecomposeOptions) -> bool:
    """Does the chosen ordering need the network (else the model is never loaded)?"""
    return RunOptions(decompose=how).needs_network()


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
    metavar="PATH|NAME",
    help="Weights: a folder from decompose-train, a .onnx file (runs on onnxruntime) or Apple's "
    "depth_pro.pt; 'default' (the shipped model, the default); random:PRESET for an untrained "
    "network (tests and benchmarks only).",
)
@click.option(
    "--device",
    default=None,
    metavar="NAME",
    help="Torch device: cpu, cuda, cuda:1, mps. Default: best available. Without torch (the "
    "light install) the model runs on the CPU with onnxruntime.",
)
@click.option(
    "--ordering",
    type=click.Choice(list(ORDERINGS)),
    default=DEFAULT_ORDERING,
    show_default=True,
    help="How regions are put in depth order. "
    + " ".join(f"{name}: {entry.summary}." for name, entry in ORDERINGS.items()),
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
    default=None,
    help="Batch: files converted in parallel: threads sharing one model (default 1), or Ray "
    "worker processes with a model each (default: one per CPU of the cluster).",
)
@click.option(
    "--executor",
    type=click.Choice(sorted(EXECUTORS)),
    default="threads",
    show_default=True,
    help="Batch: where files are converted: threads of this process, or a Ray cluster "
    "(pip install 'illustrators-depth[ray]'; inputs and outputs on storage all nodes see).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDRESS",
    envvar="RAY_ADDRESS",
    help="With --executor ray: the cluster to join (HOST:PORT of `ray start --head`, or "
    "'auto'); default $RAY_ADDRESS, else a local cluster is started for the run.",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace existing output files that this tool did not write (or that changed since "
    "it wrote them). Without it such files are left alone and reported.",
)
@click.option(
    "--redo",
    is_flag=True,
    help="Batch: convert files again even if the journal says they are done.",
)
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
    ordering: str,
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
    workers: int | None,
    executor: str,
    ray_address: str | None,
    overwrite: bool,
    redo: bool,
    dry_run: bool,
    report: Path | None,
) -> None:
    """Turn flat illustrations (PNG, JPEG, WebP, BMP, TIFF, GIF, PSD, SVG) into ordered,
    editable layers: a layered PSD, an OpenRaster file, a PNG stack or a layered SVG, bottom
    layer first."""
    ui = Ui(_stderr(quiet), _stderr(), verbose=verbose, as_json=as_json, timings=timings)
    if quiet and verbose:
        raise click.UsageError("-q and -v cannot be used together")
    if preview is not None and preview.suffix.lower() != ".png":
        raise click.UsageError(f"{preview}: --preview must end in .png")
    try:
        how = DecomposeOptions(
            layers=layers,
            ordering=ordering,
            completion=completion,
            max_pixels=max_pixels,
            svg_size=svg_size,
        )
    except InvalidOptionError as exc:
        raise click.UsageError(str(exc)) from None
    spec = ModelSpec(weights=model, device=device)
    writes = Writes(overwrite=overwrite, redo=redo, dry_run=dry_run, report=report)
    try:
        needs_net = _needs_net(how)
    except DecomposerError as exc:  # the shipped orderer cannot be read
        _fail(ui.errors, str(exc))
        ctx.exit(EXIT_USAGE)
    if model is not None and not needs_net:
        _check_model_spec_or_exit(ctx, spec, ui)  # a typo is an error even when unused
        if verbose:
            _warn(
                ui.console, f"--model is not used: --ordering {ordering} runs without the network"
            )
    try:
        if _is_single(inputs):
            job, fmt = _single_job(Path(inputs[0]), output, fmt, depth_out, preview)
            options = _run_options(how, fmt, no_extras, spec, verify)
            code = _run_single(ctx, job, options, ui, writes)
        else:
            if preview is not None:
                raise click.UsageError("--preview works with one input file")
            if output is not None and output.suffix.lower() in _FILE_SUFFIXES:
                raise click.UsageError(f"{output}: with several inputs, -o must be a folder")
            fmt = fmt or DEFAULT_FORMAT
            plan = Plan(tuple(inputs), output, fmt, depth_out)
            plan.check()
            options = _run_options(how, fmt, no_extras, spec, verify)
            settings = ExecutorSettings(workers=workers, ray_address=ray_address, verbose=verbose)
            code = _run_many(plan, options, ui, executor, settings, writes)
    except KeyboardInterrupt:
        _fail(ui.errors, "interrupted")
        code = EXIT_INTERRUPTED
    except ModelLoadError as exc:
        _fail(ui.errors, _model_message(spec, exc))
        code = EXIT_USAGE
    except DecomposerError as exc:  # an input that does not exist, a locked folder, no Ray
        _fail(ui.errors, str(exc))
        code = EXIT_USAGE
    ctx.exit(code)


@dataclass(frozen=True)
class Writes:
    """What may be written: overwrite: replace existing files the tool did not write; redo:
    convert files the journal marks done again; dry_run: write nothing; report: --report path."""

    overwrite: bool = False
    redo: bool = False
    dry_run: bool = False
    report: Path | None = None


def _run_options(
    how: DecomposeOptions, fmt: str, no_extras: bool, spec: ModelSpec, verify: bool
) -> RunOptions:
    return RunOptions(decompose=how, format=fmt, extras=not no_extras, model=spec, verify=verify)


def _single_job(
    source: Path,
    output: Path | None,
    fmt: str | None,
    depth_out: Path | None,
    preview: Path | None = None,
) -> tuple[Job, str]:
    """Output path and format for one input; raises click.UsageError for contradictions and
    InvalidOptionError for a missing input."""
    if not source.exists():
        raise InvalidOptionError(f"{source}: no such file")
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


def _refuse_existing(job: Job) -> None:
    """A single run never replaces an existing file without --overwrite."""
    for path in (job.output, job.depth_out):
        if path is not None and (path.exists() or path.is_symlink()):
            raise InvalidOptionError(f"{path}: already exists; pass --overwrite to replace it")


def _run_single(
    ctx: click.Context,
    job: Job,
    options: RunOptions,
    ui: Ui,
    writes: Writes,
) -> int:
    """One input: no journal; an existing output needs --overwrite. Returns the exit code."""
    console, errors = ui.console, ui.errors
    if not writes.overwrite:
        _refuse_existing(job)
    if writes.dry_run:
        if ui.as_json:
            _print_json({"dry_run": True, "input": str(job.source), "output": str(job.output)})
        else:
            click.echo(f"would write {job.output} from {job.source}")
        return EXIT_OK
    for path in (job.output, job.depth_out):  # leftovers of an earlier run that was killed
        if path is not None:
            remove_stale_temps(path.parent, target=path.name)
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
        _load_model_or_exit(ctx, options.model, ui)
        if image is not None and _needs_net(options.decompose)
        else None
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
    report = BatchReport()
    report.add(result)
    report.seconds = result.seconds
    reported = _write_report(report, writes.report, errors)
    report.close()
    if ui.as_json:
        _print_json(result.to_json())
    if result.status == DONE:
        return EXIT_OK if reported else EXIT_FAILED
    return EXIT_USAGE if result.error_kind == INPUT_ERROR else EXIT_FAILED


def _progress_bar(console: Console) -> Progress:
    return Progress(
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


def _run_many(
    plan: Plan,
    options: RunOptions,
    ui: Ui,
    executor_name: str,
    settings: ExecutorSettings,
    writes: Writes,
) -> int:
    """A batch: survey the plan, lock the output folder, convert (resuming via the journal),
    then summary and report. Returns the exit code."""
    folder = plan.journal_folder()
    journal = Journal(folder / JOURNAL_NAME)
    plan = replace(plan, own_outputs=journal.wrote)  # earlier outputs are no inputs
    survey = plan.survey()
    if survey.total == 0:
        raise InvalidOptionError(f"{', '.join(plan.inputs)}: no input images found")
    executor = create_executor(executor_name, settings)
    lock = BatchLock(folder)
    if not writes.dry_run:
        try:
            lock.acquire()
        except OSError as exc:
            raise DecomposerError(
                f"{folder}: cannot write to the output folder ({exc.strerror or exc})"
            ) from None
    try:
        if lock.took_over is not None and ui.verbose:
            _warn(ui.errors, f"{lock.path}: took over the lock of a batch that is gone "
                             f"({lock.took_over.describe()})")  # fmt: skip
        report = _convert(plan, survey, options, ui, executor, journal, writes)
    finally:
        lock.release()
    try:
        return _finish_batch(report, ui, writes)
    finally:
        report.close()


def _convert(
    plan: Plan,
    survey: Survey,
    options: RunOptions,
    ui: Ui,
    executor: Executor,
    journal: Journal,
    writes: Writes,
) -> BatchReport:
    """Name the plan's collisions up front, then run the batch under a progress bar with ETA."""
    console, errors = ui.console, ui.errors
    for warning in journal.warnings:
        _warn(errors, warning)
    shown_conflicts = set(survey.conflicts)
    for message in survey.conflicts:
        _fail(errors, message)
    if survey.conflict_count > len(survey.conflicts):
        more = survey.conflict_count - len(survey.conflicts)
        _fail(errors, f"... and {more} more name collision(s) (see --report)")
    bar = _progress_bar(console)
    task = bar.add_task("decomposing", total=survey.total)

    def finished(job: Job, result: FileResult) -> None:
        bar.advance(task)
        bar.update(task, description=job.source.name)
        for warning in result.warnings:
            _warn(bar.console, warning)
        if result.status == FAILED and result.error not in shown_conflicts:
            _fail(errors if console.quiet else bar.console, result.error or f"{job.source}: failed")
        elif result.status == DONE and ui.verbose:
            bar.console.print(f"{job.source} -> {job.output}: {result.layers} layers", markup=False)

    def ready(description: str) -> None:
        if ui.verbose:
            bar.console.print(description, markup=False, highlight=False)

    callbacks = BatchCallbacks(
        ready=ready,
        started=lambda job: bar.update(task, description=job.source.name),
        finished=finished,
        warning=lambda message: _warn(bar.console, message),
    )
    if not writes.dry_run:
        bar.start()
    try:
        return run_batch(
            plan,
            options,
            executor=executor,
            journal=journal,
            overwrite=writes.overwrite,
            redo=writes.redo,
            dry_run=writes.dry_run,
            callbacks=callbacks,
            sweeper=TempSweeper(abandoned_unless_live=True),
        )
    finally:
        bar.stop()


def _finish_batch(report: BatchReport, ui: Ui, writes: Writes) -> int:
    """Summary, --report, --json and the exit code of a finished batch."""
    console, errors = ui.console, ui.errors
    if report.interrupted:
        _fail(errors, "interrupted; run the same command again to resume")
    if writes.dry_run and not ui.as_json:
        for entry in report.files():
            status = entry["status"]
            action = {SKIPPED: "skip (done)", FAILED: "cannot run"}.get(status, "process")
            click.echo(f"{action:12} {entry['input']} -> {entry['output']}")
    if not writes.dry_run:
        console.print(
            f"{report.summary()} in {report.seconds:.1f} s", markup=False, highlight=False
        )
        if ui.timings:
            _print_batch_timings(errors if ui.as_json else console, report)
    reported = _write_report(report, writes.report, errors)
    if ui.as_json:
        report.dump(sys.stdout)
        sys.stdout.flush()
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
    table = Table(title="stage times, all files", show_edge=False)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in report.stage_seconds.items():
        table.add_row(stage, f"{seconds:.3f}")
    console.print(table)


if __name__ == "__main__":
    sys.exit(main())
