"""`decompose-train`: build datasets, fetch approved sources, train (fit)."""

from __future__ import annotations

import click

from training.dataset_cli import build_dataset, fetch_sources
from training.fit_cli import fit


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Ground truth, datasets and training for the layer-index network.

    \b
    Examples:
      decompose-train fetch-sources --out sources/
      decompose-train build-dataset sources/noto-emoji --out data/ --size 512
      decompose-train fit --data-dir data/ --preset small --save-dir runs/small
    """


main.add_command(fetch_sources)
main.add_command(build_dataset)
main.add_command(fit)
