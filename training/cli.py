"""`decompose-train`: build datasets, fetch approved sources, train (fit)."""

from __future__ import annotations

from pathlib import Path

import click

from training.dataset_cli import build_dataset, fetch_sources
from training.export import export_model, export_onnx_file
from training.fit_cli import fit
from training.orderer_cli import fit_orderer_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Ground truth, datasets and training for the layer-index network and the orderer.

    \b
    Examples:
      decompose-train fetch-sources --out sources/
      decompose-train build-dataset sources/noto-emoji --out data/ --size 512
      decompose-train resize-dataset data/ data256/ --size 256
      decompose-train fit --data-dir data/ --preset small --save-dir runs/small
      decompose-train export runs/small/best model/weights/default --onnx
      decompose-train export-onnx model/weights/default
      decompose-train fit-orderer --data data/ --out runs/orderer --cache cache/
    """


main.add_command(fetch_sources)
main.add_command(build_dataset)
main.add_command(fit)
main.add_command(fit_orderer_command)


@main.command("resize-dataset")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--size", type=int, default=256, show_default=True, help="Long side of every sample (px)."
)
def resize_dataset_command(source: Path, destination: Path, size: int) -> None:
    """Copy a dataset folder with every sample shrunk to SIZE px (RGB area-resampled, labels
    nearest), e.g. to train at 256² without shrinking 512² PNGs at every step. Incremental: run
    it again to add the samples a still-running build has written since.

    \b
    Example:
      decompose-train resize-dataset data/parts512 data/parts256 --size 256
    """
    from training.datasets import DatasetError
    from training.resize_dataset import resize_dataset

    try:
        new, total = resize_dataset(source, destination, size)
    except (DatasetError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{destination}: {new} new samples, {total} in all, long side {size} px")


@main.command("export")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("destination", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--dtype",
    type=click.Choice(["fp16", "bf16", "fp32"]),
    default="fp16",
    show_default=True,
    help="Storage precision of the exported weights (inference runs in fp32).",
)
@click.option(
    "--onnx/--no-onnx",
    default=False,
    show_default=True,
    help="Also write model.onnx (the same network for onnxruntime, the light install's runtime).",
)
def export(source: Path, destination: Path, dtype: str, onnx: bool) -> None:
    """Export a trained model folder (e.g. runs/small/best) for shipping.

    \b
    Example (the shipped default model):
      decompose-train export runs/small/best model/weights/default --dtype fp16 --onnx
    """
    from model import ModelError

    try:
        out = export_model(source, destination, dtype=dtype, onnx=onnx)
    except (ModelError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    size = (out / "model.safetensors").stat().st_size
    click.echo(f"exported {source} -> {out} ({dtype}, {size / 1e6:.1f} MB)")
    if onnx:
        click.echo(
            f"wrote {out / 'model.onnx'} ({(out / 'model.onnx').stat().st_size / 1e6:.1f} MB)"
        )


@main.command("export-onnx")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--storage",
    type=click.Choice(["fp16", "fp32"]),
    default="fp16",
    show_default=True,
    help="fp16: weights stored as float16 where exact (all of an fp16 export), computed in fp32.",
)
def export_onnx(folder: Path, storage: str) -> None:
    """(Re)write FOLDER/model.onnx from FOLDER's model.safetensors + config.json.

    Run it whenever the weights change; tests check that the shipped ONNX model was exported
    from the shipped safetensors and predicts the same index maps.

    \b
    Example (the shipped default model):
      decompose-train export-onnx model/weights/default
    """
    from model import ModelError

    try:
        path = export_onnx_file(folder, storage=storage)
    except (ModelError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {storage} storage)")


if __name__ == "__main__":
    main()
