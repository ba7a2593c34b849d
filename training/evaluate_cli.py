"""`decompose-eval`: score the pipeline's orderings, a network and the baselines on dataset
splits with the paper's metrics, on the index map and on the layers written."""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

import click

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data",
    "data_dirs",
    multiple=True,
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Dataset folder: rgb/NAME.png, label/NAME.png, manifest.csv (split, source); repeatable.",
)
@click.option(
    "--split",
    type=click.Choice(["val", "train", "all"]),
    default="val",
    show_default=True,
    help="Which manifest split to score.",
)
@click.option(
    "--baseline",
    is_flag=True,
    help="Also score constant, luminance, area, net and net-median (the shipped network's "
    "median per region) and the ceiling (regions ordered by their true median label).",
)
@click.option(
    "--model",
    "model_spec",
    default=None,
    metavar="PATH|NAME",
    help="Network for net / net-median (and an orderer that uses it): a save_pretrained "
    "folder, a .onnx or .pt file, random:PRESET (untrained); default: the shipped network.",
)
@click.option(
    "--orderer",
    "orderer_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Orderer folder (decompose-train fit-orderer) for 'graph'; default: the shipped one.",
)
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Layers the pipeline writes for the 'layers' scores.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write per-image and mean metrics (per source and view) to this JSON file.",
)
@click.option(
    "--limit",
    type=int,
    default=None,
    help="Score at most N images per folder, evenly spaced by name (every source keeps its share).",
)
@click.option("--device", default=None, help="cpu, cuda, cuda:1, mps (default: best available).")
@click.option("--tta", is_flag=True, help="Average with the horizontally flipped prediction.")
@click.option("--pairs", type=int, default=50_000, show_default=True, help="Order pixel pairs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the Order pairs.")
@click.option(
    "--amodal",
    is_flag=True,
    help="Also score completion: amodal IoU of each layer against the full masks of its pieces "
    "(DIR/amodal/NAME.npz), per completion mode, in the true order.",
)
@click.option(
    "--vector",
    is_flag=True,
    help="Also run the vectorisation track (paper Track B): our layered SVG and VTracer's "
    "stacked SVG, Order / Order-FG of the paint order, RGB MSE, SSIM, layer-count error.",
)
@click.option(
    "--vector-layers",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="--vector: layers asked of our decomposition.",
)
@click.option(
    "--no-depth", is_flag=True, help="Skip the depth (index map) table; only --amodal / --vector."
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
def main(
    data_dirs: tuple[str, ...],
    split: str,
    baseline: bool,
    model_spec: str | None,
    orderer_dir: Path | None,
    layers: int,
    json_path: str | None,
    limit: int | None,
    device: str | None,
    tta: bool,
    pairs: int,
    seed: int,
    amodal: bool,
    vector: bool,
    vector_layers: str,
    no_depth: bool,
    verbose: bool,
) -> None:
    """Evaluate the default pipeline ('graph': the learned orderer) on DIR/rgb + DIR/label with
    Order (lenient and strict), Order-FG and SI-MAE, on the index map the regions were ordered
    by and on the layers written (each pixel takes the index of the layer that shows it), per
    source and overall, with regions and seconds per image; optionally next to the baselines.
    With --amodal also the completion modes against the pieces' full masks; with --vector the
    paper's Track B (our layered SVG against VTracer's stacked SVG).

    \b
    Examples:
      decompose-eval --data data/parts512 --baseline
      decompose-eval --data a/ --data b/ --baseline --json eval.json --layers 16
      decompose-eval --data data/ --orderer runs/orderer --model runs/small/best --baseline
      decompose-eval --data data/ --amodal --no-depth --json amodal.json
      decompose-eval --data data/ --vector --no-depth --limit 200 --json trackb.json
    """
    from decomposer.errors import DecomposerError
    from training.datasets import DatasetError
    from training.evaluate import evaluate, format_table, write_json
    from training.ordering_eval import build_methods, vector_predictor

    started = time.perf_counter()
    try:
        if pairs < 1:
            raise ValueError(f"--pairs must be ≥ 1, got {pairs}")
        if no_depth and not (amodal or vector):
            raise ValueError("--no-depth leaves nothing to do: add --amodal or --vector")
        if (amodal or vector) and len(data_dirs) > 1:
            raise ValueError("--amodal and --vector score one --data folder at a time")
        chosen_split = None if split == "all" else split
        document: dict = {}
        if not no_depth:
            methods, label = build_methods(
                baseline=baseline,
                model_spec=model_spec,
                orderer_dir=orderer_dir,
                layers=layers,
                device=device,
                tta=tta,
            )
            report = evaluate(
                methods,
                list(data_dirs),
                split=chosen_split,
                limit=limit,
                num_pairs=pairs,
                seed=seed,
                model_label=label,
                views=("index", "layers"),
            )
            click.echo(format_table(report))
            click.echo(f"{layers} layers; evaluated in {time.perf_counter() - started:.1f} s")
            document = report.to_dict()
        data_dir = data_dirs[0]
        if amodal:
            from training.amodal_eval import evaluate_amodal, format_amodal_table

            amodal_report = evaluate_amodal(data_dir, chosen_split, limit=limit)
            click.echo(format_amodal_table(amodal_report))
            document["amodal"] = amodal_report.to_dict()
        if vector:
            from training.vector_eval import evaluate_vector, format_vector_table

            predict, orderer = vector_predictor(model_spec, orderer_dir, device, tta)
            chosen = vector_layers.strip().lower()
            vector_report = evaluate_vector(
                predict,
                data_dir,
                chosen_split,
                model_label=model_spec or "default",
                layers=chosen if chosen == "auto" else int(chosen),
                limit=limit,
                num_pairs=pairs,
                seed=seed,
                orderer=orderer,
            )
            click.echo(format_vector_table(vector_report))
            document["vector"] = vector_report.to_dict()
        if json_path:
            click.echo(f"wrote {write_json(document, json_path)}")
    except KeyboardInterrupt:
        click.echo("decompose-eval: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (DatasetError, DecomposerError, ValueError, OSError, RuntimeError) as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"decompose-eval: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
