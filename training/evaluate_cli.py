"""`decompose-eval`: score a model and the baselines on a dataset split (the paper's metrics)."""

from __future__ import annotations

import sys
import traceback

import click

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--model",
    "model_spec",
    default=None,
    metavar="PATH|NAME",
    help="A save_pretrained folder, a .onnx or .pt file, random:PRESET (untrained), or omitted = "
    "the shipped default.",
)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Dataset folder: rgb/NAME.png, label/NAME.png, manifest.csv.",
)
@click.option(
    "--split",
    type=click.Choice(["val", "train", "all"]),
    default="val",
    show_default=True,
    help="Which manifest split to score.",
)
@click.option("--baseline", is_flag=True, help="Also score the constant, luminance and area rules.")
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write per-image and mean metrics to this JSON file.",
)
@click.option("--limit", type=int, default=None, help="Score only the first N images (by name).")
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
    model_spec: str | None,
    data_dir: str,
    split: str,
    baseline: bool,
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
    """Evaluate the layer-index model on DIR/rgb + DIR/label with Order (lenient and strict),
    Order-FG, SI-MAE and SI-MSE, optionally next to the baselines; with --amodal also the
    completion modes against the pieces' full masks.

    \b
    Examples:
      decompose-eval --data data/ --baseline
      decompose-eval --model runs/small/final --data data/ --json eval.json
      decompose-eval --model runs/small/best --data data/ --split val --limit 50 --baseline
      decompose-eval --data data/ --amodal --no-depth --json amodal.json
      decompose-eval --data data/ --vector --no-depth --limit 200 --json trackb.json
    """
    from training.baselines import BASELINES
    from training.datasets import DatasetError
    from training.evaluate import (
        evaluate,
        format_table,
        model_predictor,
        resolve_model,
        write_json,
    )

    try:
        if pairs < 1:
            raise ValueError(f"--pairs must be ≥ 1, got {pairs}")
        if no_depth and not (amodal or vector):
            raise ValueError("--no-depth leaves nothing to do: add --amodal or --vector")
        chosen_split = None if split == "all" else split
        document: dict = {}
        if not no_depth or vector:
            label, net = resolve_model(model_spec)
            predictor = model_predictor(net, device=device, tta=tta)
        if not no_depth:
            methods = {label: predictor}
            if baseline:
                methods.update(BASELINES)
            report = evaluate(
                methods,
                data_dir,
                split=chosen_split,
                limit=limit,
                num_pairs=pairs,
                seed=seed,
                model_label=model_spec or "default",
            )
            click.echo(format_table(report))
            document = report.to_dict()
        if amodal:
            from training.amodal_eval import evaluate_amodal, format_amodal_table

            amodal_report = evaluate_amodal(data_dir, chosen_split, limit=limit)
            click.echo(format_amodal_table(amodal_report))
            document["amodal"] = amodal_report.to_dict()
        if vector:
            from training.vector_eval import evaluate_vector, format_vector_table

            layers = vector_layers.strip().lower()
            vector_report = evaluate_vector(
                predictor,
                data_dir,
                chosen_split,
                model_label=model_spec or "default",
                layers=layers if layers == "auto" else int(layers),
                limit=limit,
                num_pairs=pairs,
                seed=seed,
            )
            click.echo(format_vector_table(vector_report))
            document["vector"] = vector_report.to_dict()
        if json_path:
            click.echo(f"wrote {write_json(document, json_path)}")
    except KeyboardInterrupt:
        click.echo("decompose-eval: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (DatasetError, ValueError, OSError, RuntimeError) as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"decompose-eval: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


if __name__ == "__main__":
    main()
