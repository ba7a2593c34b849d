"""`decompose-train fit-orderer`: train the region-graph orderer and write a model folder."""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

import click

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.command("fit-orderer", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Dataset folder (rgb/, label/, manifest.csv with split and source); repeatable.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Model folder to write (pair.txt, unary.txt, meta.json, report.json).",
)
@click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for per-sample feature caches (reused by later runs).",
)
@click.option(
    "--net",
    "net_spec",
    default=None,
    metavar="default|FOLDER",
    help="Add the network's region median index as a feature ('default' = the shipped net).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="LightGBM seed.")
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="LightGBM threads (more than the idle cores slows it down badly).",
)
@click.option(
    "--workers", type=int, default=2, show_default=True, help="Feature extraction processes."
)
@click.option(
    "--pair-weight",
    type=click.Choice(["unit", "area"]),
    default="unit",
    show_default=True,
    help="Training weight of a pair: 1, or sqrt(area_a * area_b) normalised per image.",
)
@click.option(
    "--layers", type=int, default=16, show_default=True, help="Layers for the layers metrics."
)
@click.option(
    "--limit",
    type=int,
    default=None,
    help="At most N samples per split and folder, evenly spaced by name (every source keeps "
    "its share).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --out folder.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
def fit_orderer_command(
    data_dirs: tuple[str, ...],
    out: Path,
    cache: Path | None,
    net_spec: str | None,
    seed: int,
    threads: int,
    workers: int,
    pair_weight: str,
    layers: int,
    limit: int | None,
    overwrite: bool,
    verbose: bool,
) -> None:
    """Train the learned occlusion orderer (the default `--ordering graph`) on the train splits
    of DATA folders; choose early stopping and the solver on their val splits; write a model
    folder that `decomposer.orderer.load_orderer(FOLDER)` reads.

    \b
    Examples:
      decompose-train fit-orderer --data data/parts512 --out runs/orderer --cache cache/
      decompose-train fit-orderer --data a/ --data b/ --out runs/orderer-net --net default
    """
    from decomposer.regions import RegionConfig
    from training.datasets import DatasetError
    from training.orderer_fit import (
        FitConfig,
        data_summary,
        fit_orderer,
        load_samples,
        net_fingerprint,
        save_orderer,
        write_report_csv,
    )

    started = time.perf_counter()

    def log(line: str) -> None:
        click.echo(f"[{time.perf_counter() - started:7.1f} s] {line}", err=True)

    try:
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise ValueError(f"{out}: exists; pass --overwrite to replace it")
        if threads < 1 or workers < 1:
            raise ValueError("--threads and --workers must be >= 1")
        regions = RegionConfig()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.perf_counter()
            if now - last[0] > 10 or done == total:
                last[0] = now
                log(f"features {done}/{total}")

        samples = load_samples(
            data_dirs,
            regions=regions,
            cache=cache,
            net_spec=net_spec,
            workers=workers,
            limit=limit,
            progress=progress,
        )
        features_s = time.perf_counter() - started
        train = [s for s in samples if s.split == "train"]
        val = [s for s in samples if s.split == "val"]
        log(f"{len(train)} train, {len(val)} val samples; features in {features_s:.1f} s")
        config = FitConfig(seed=seed, threads=threads, pair_weight=pair_weight, layers=layers)
        orderer, report = fit_orderer(train, val, config, uses_net=net_spec is not None, log=log)
        seconds = time.perf_counter() - started
        extra = {
            "net": {"spec": net_spec, "weights_sha256_16": net_fingerprint(net_spec)}
            if net_spec
            else None,
            "regions": regions.__dict__,
            "training": {
                **data_summary(samples, list(data_dirs)),
                "seed": seed,
                "threads": threads,
                "pair_weight": pair_weight,
                "layers_metric": layers,
                "features_seconds": round(features_s, 1),
                "fit_seconds": round(seconds, 1),
            },
            "validation": {
                k: report[k] for k in ("validation", "ceiling", "regions_per_image") if k in report
            },
        }
        folder = save_orderer(orderer, out, extra)
        (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        write_report_csv(folder / "report.csv", report)
        _print_summary(report)
        log(f"wrote {folder} (total {seconds:.1f} s)")
    except KeyboardInterrupt:
        click.echo("fit-orderer: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (DatasetError, ValueError, OSError) as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"fit-orderer: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


def _print_summary(report: dict) -> None:
    """Validation table: per group, the orderer and the ceiling on the index map and the layers."""
    if "validation" not in report:
        click.echo("no validation split: no validation numbers")
        return
    val, ceil = report["validation"], report["ceiling"]
    groups = {"all": (val["all"], ceil["all"])}
    for source in val["by_source"]:
        groups[source] = (val["by_source"][source], ceil["by_source"][source])
    head = (
        f"{'group':24} {'view':7} {'method':8} {'Order':>7} {'strict':>7} {'FG':>7} {'SI-MAE':>7}"
    )
    click.echo(head)
    for group, (v, c) in groups.items():
        for view in ("index", "layers"):
            for method, views in (("graph", v), ("ceiling", c)):
                m = views[view]
                click.echo(
                    f"{group:24} {view:7} {method:8} {m['order']:7.4f} {m['order_strict']:7.4f} "
                    f"{m['order_fg']:7.4f} {m['si_mae']:7.4f}"
                )
