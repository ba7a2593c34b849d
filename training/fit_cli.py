"""`decompose-train fit`: train the layer-index network on a dataset folder."""

from __future__ import annotations

import sys
import traceback

import click

from model import list_presets
from training.config import list_recipes, make_config
from training.pretrained import list_pretrained_encoders

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="Dataset folder: rgb/NAME.png, label/NAME.png, manifest.csv (train/val split).",
)
@click.option(
    "--save-dir",
    default="runs/default",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where checkpoint.pt, train_log.jsonl, best/ and final/ are written.",
)
@click.option(
    "--preset",
    type=click.Choice(list_presets()),
    default=None,
    help="Model preset (default: the recipe's, 'small').",
)
@click.option(
    "--recipe",
    type=click.Choice(list_recipes()),
    default="default",
    show_default=True,
    help="Named hyper-parameter set; 'paper' = the paper code's fine-tuning recipe.",
)
@click.option(
    "--checkpoint-path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Initialise from Apple's depth_pro.pt (needs --preset depthpro).",
)
@click.option(
    "--init-from",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Initialise from a save_pretrained model folder (fine-tune our own model).",
)
@click.option(
    "--init-encoder",
    type=click.Choice([*list_pretrained_encoders(), "none"]),
    default=None,
    help="Start a fresh preset's encoder from pretrained weights that an installed package "
    "ships (e.g. efficientnet-lite0-imagenet for --preset lite0; nothing is downloaded); "
    "'none' = random init even where the recipe names one.",
)
@click.option(
    "--resume",
    is_flag=False,
    flag_value="auto",
    default=None,
    metavar="[PATH]",
    help="Continue exactly from a checkpoint; alone: SAVE_DIR/checkpoint.pt if it exists.",
)
@click.option("--batch-size", type=int, default=None, help="Samples per micro-batch per process.")
@click.option("--accum-steps", type=int, default=None, help="Micro-batches per optimizer step.")
@click.option("--num-epochs", type=int, default=None, help="Epochs (sets the schedule length).")
@click.option(
    "--max-steps", type=int, default=None, help="Optimizer steps (overrides --num-epochs)."
)
@click.option(
    "--learning-rate", type=float, default=None, help="Peak lr of decoder + head (default 1e-4)."
)
@click.option("--encoder-lr", type=float, default=None, help="Peak lr of the encoder (1e-5).")
@click.option("--weight-decay", type=float, default=None, help="AdamW weight decay (1e-4).")
@click.option("--warmup-steps", type=int, default=None, help="Linear warm-up steps (100).")
@click.option(
    "--use-edge-loss/--no-edge-loss",
    default=None,
    help="Add the multi-scale gradient-matching loss.",
)
@click.option(
    "--edge-loss-weight",
    type=float,
    default=None,
    help="Weight of the edge loss (0 = off; 0.1 usual; implies --use-edge-loss when > 0).",
)
@click.option(
    "--rank-loss-weight",
    type=float,
    default=None,
    help="Weight of the pairwise ranking loss over pixel pairs of different pieces (0 = off).",
)
@click.option(
    "--rank-pairs",
    type=int,
    default=None,
    help="Pixel pairs per image for the ranking loss (4096).",
)
@click.option(
    "--rank-fg-weight",
    type=float,
    default=None,
    help="Ranking-loss weight of pairs whose pixels both lie on drawn pieces (4; others 1).",
)
@click.option(
    "--use-amp/--no-amp",
    default=None,
    help="bf16 autocast (default on): on CUDA (+ TF32), and on a CPU with native bf16 "
    "(AVX-512 BF16 / AMX); fp32 elsewhere. The choice is written to the run log.",
)
@click.option("--num-workers", type=int, default=None, help="Data-loader worker processes (2).")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="torch CPU threads (default: all cores; 1 is faster on a busy machine).",
)
@click.option(
    "--working-size",
    type=int,
    default=None,
    help="Override the preset's square input size in px (multiple of 256 for patch 16).",
)
@click.option(
    "--val-every", type=int, default=None, help="Validate every N steps (500; 0 = end only)."
)
@click.option("--val-limit", type=int, default=None, help="Validation images per evaluation (64).")
@click.option(
    "--ckpt-every", type=int, default=None, help="Checkpoint every N steps (250; 0 = end only)."
)
@click.option("--log-every", type=int, default=None, help="Log a train line every N steps (10).")
@click.option(
    "--time-budget",
    type=float,
    default=None,
    help="Stop cleanly (checkpoint + final model) after this many minutes.",
)
@click.option("--seed", type=int, default=None, help="Random seed (42).")
@click.option("--no-augment", is_flag=True, help="Disable all augmentations.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs only).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks on errors.")
def fit(
    data_dir: str,
    save_dir: str,
    preset: str | None,
    recipe: str,
    checkpoint_path: str | None,
    init_from: str | None,
    init_encoder: str | None,
    resume: str | None,
    batch_size: int | None,
    accum_steps: int | None,
    num_epochs: int | None,
    max_steps: int | None,
    learning_rate: float | None,
    encoder_lr: float | None,
    weight_decay: float | None,
    warmup_steps: int | None,
    use_edge_loss: bool | None,
    edge_loss_weight: float | None,
    rank_loss_weight: float | None,
    rank_pairs: int | None,
    rank_fg_weight: float | None,
    use_amp: bool | None,
    num_workers: int | None,
    threads: int | None,
    working_size: int | None,
    val_every: int | None,
    val_limit: int | None,
    ckpt_every: int | None,
    log_every: int | None,
    time_budget: float | None,
    seed: int | None,
    no_augment: bool,
    no_progress: bool,
    verbose: bool,
) -> None:
    """Train the layer-index network (single process, or every process under torchrun).

    \b
    Examples:
      decompose-train fit --data-dir data/ --preset small --save-dir runs/small
      decompose-train fit --data-dir data/ --save-dir runs/small --resume --time-budget 60
      decompose-train fit --data-dir data/ --recipe cpu-parts --save-dir runs/parts
      decompose-train fit --data-dir data/ --recipe paper --checkpoint-path depth_pro.pt
      torchrun --nproc_per_node 8 -m training.fit_cli --data-dir data/ --recipe paper \\
          --checkpoint-path depth_pro.pt --batch-size 2
    """
    from training.config import NO_AUGMENT
    from training.trainer import TrainingError, train

    if edge_loss_weight and edge_loss_weight > 0 and use_edge_loss is None:
        use_edge_loss = True
    if use_edge_loss and not edge_loss_weight:
        edge_loss_weight = 0.1
    try:
        cfg = make_config(
            recipe,
            data_dir=data_dir,
            save_dir=save_dir,
            preset=preset,
            checkpoint_path=checkpoint_path,
            init_from=init_from,
            init_encoder="" if init_encoder == "none" else init_encoder,
            batch_size=batch_size,
            accum_steps=accum_steps,
            num_epochs=num_epochs,
            max_steps=max_steps,
            learning_rate=learning_rate,
            encoder_lr=encoder_lr,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            use_edge_loss=use_edge_loss,
            edge_loss_weight=edge_loss_weight,
            rank_loss_weight=rank_loss_weight,
            rank_pairs=rank_pairs,
            rank_fg_weight=rank_fg_weight,
            use_amp=use_amp,
            num_workers=num_workers,
            num_threads=threads,
            working_size=working_size,
            val_every=val_every,
            val_limit=val_limit,
            ckpt_every=ckpt_every,
            log_every=log_every,
            time_budget_min=time_budget,
            seed=seed,
            augment=NO_AUGMENT if no_augment else None,
        )
        result = train(cfg, resume=resume, progress=not no_progress)
    except KeyboardInterrupt:
        click.echo("fit: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (TrainingError, ValueError, OSError) as exc:
        if verbose:
            traceback.print_exc()
        click.echo(f"fit: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    val = result.last_val or {}
    summary = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
    click.echo(
        f"fit: {result.stopped} at step {result.step}/{result.total_steps}; "
        f"checkpoint {result.checkpoint}; model {result.final_dir}"
        + (f"; val {summary}" if summary else "")
    )
    if result.stopped == "interrupted":
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    fit()
