"""Trainer: overfitting, exact resume, time budget, schedule, parameter groups and the fit CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from model import create_model, from_pretrained
from training.cli import main as train_cli
from training.config import NO_AUGMENT, TrainConfig, make_config
from training.trainer import (
    CHECKPOINT_NAME,
    LOG_NAME,
    Trainer,
    TrainingError,
    cpu_bf16_support,
    lr_factor,
    native_bf16_flags,
    param_groups,
    resolve_amp,
    train,
    validate,
)

NATIVE_BF16, NO_BF16_REASON = cpu_bf16_support()


def _config(data: Path, save: Path, **kw: object) -> TrainConfig:
    base = dict(
        data_dir=str(data),
        save_dir=str(save),
        preset="tiny",
        batch_size=4,
        warmup_steps=2,
        num_workers=0,
        val_every=0,
        ckpt_every=0,
        val_limit=2,
    )
    return make_config("default", **{**base, **kw})


def test_tiny_preset_overfits_32_samples(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = rectangles_dataset(32, 2, size=(64, 64))
    cfg = _config(
        data,
        tmp_path / "run",
        batch_size=8,
        max_steps=40,
        learning_rate=3e-3,
        encoder_lr=3e-3,
        warmup_steps=4,
        augment=NO_AUGMENT,
    )
    trainer = Trainer(cfg, progress=False)
    before = validate(trainer.net, trainer.train_set, trainer.device, 8, amp=False)["loss"]
    result = trainer.run()
    after = validate(trainer.net, trainer.train_set, trainer.device, 8, amp=False)["loss"]
    assert result.stopped == "done" and result.step == 40
    assert after <= 0.5 * before, f"training-set loss {before:.3f} -> {after:.3f}"


@pytest.mark.skipif(not NATIVE_BF16, reason=f"bf16 autocast not used here: {NO_BF16_REASON}")
def test_bf16_cpu_training_overfits_with_the_ranking_loss(
    rectangles_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = rectangles_dataset(16, 2, size=(64, 64))
    cfg = _config(
        data,
        tmp_path / "run",
        batch_size=8,
        max_steps=30,
        learning_rate=3e-3,
        encoder_lr=3e-3,
        warmup_steps=3,
        rank_loss_weight=1.0,
        rank_pairs=512,
        augment=NO_AUGMENT,
    )
    trainer = Trainer(cfg, progress=False)
    assert trainer.amp and trainer.device.type == "cpu"
    before = validate(trainer.net, trainer.train_set, trainer.device, 8, amp=True)["loss"]
    result = trainer.run()
    after = validate(trainer.net, trainer.train_set, trainer.device, 8, amp=True)["loss"]
    assert all(math.isfinite(x) for x in result.losses)
    assert after <= 0.6 * before, f"training-set loss {before:.3f} -> {after:.3f}"
    lines = [json.loads(x) for x in (tmp_path / "run" / LOG_NAME).open()]
    start = lines[0]
    assert start["event"] == "start" and start["amp"] == "bf16"
    assert "bf16" in start["amp_reason"]
    steps = [x for x in lines if x["event"] == "train"]
    assert {"loss_ssi_mae", "loss_rank"} <= set(steps[0])
    assert steps[-1]["loss"] == pytest.approx(steps[-1]["loss_ssi_mae"] + steps[-1]["loss_rank"])
    meta = json.loads((tmp_path / "run" / "final" / "config.json").read_text())["metadata"]
    assert meta["training"]["precision"] == "bf16-autocast"


def test_bf16_detection_and_clean_fallback(tmp_path: Path) -> None:
    text = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 amx_tile amx_bf16\n"
    assert native_bf16_flags(text) == ["avx512_bf16", "amx_bf16"]
    assert native_bf16_flags("flags : fpu sse2 avx2 avx512f\n") == []
    old = tmp_path / "cpuinfo"
    old.write_text("processor : 0\nflags : fpu sse2 avx2 fma\n")
    ok, reason = cpu_bf16_support(str(old))
    assert not ok and "no native bf16" in reason
    ok, reason = cpu_bf16_support(str(tmp_path / "missing"))
    assert not ok and "unknown" in reason
    assert resolve_amp(False, torch.device("cpu")) == (False, "disabled (use_amp off)")
    assert resolve_amp(True, torch.device("cpu")) == cpu_bf16_support()


def test_fp32_run_when_amp_is_off(synthetic_dataset: Callable[..., Path], tmp_path: Path) -> None:
    data = synthetic_dataset(4, 0)
    result = train(_config(data, tmp_path / "run", max_steps=2, use_amp=False), progress=False)
    assert result.step == 2 and all(math.isfinite(x) for x in result.losses)
    start = json.loads((tmp_path / "run" / LOG_NAME).open().readline())
    assert (start["amp"], start["amp_reason"]) == ("off", "disabled (use_amp off)")


def test_resume_continues_exactly(synthetic_dataset: Callable[..., Path], tmp_path: Path) -> None:
    data = synthetic_dataset(6, 2)
    kw = dict(max_steps=5, accum_steps=2, batch_size=2)  # 3 micro-batches/epoch: crosses epochs
    straight = train(_config(data, tmp_path / "a", **kw), progress=False)
    first = train(_config(data, tmp_path / "b", **kw), progress=False, stop_at_step=3)
    assert first.stopped == "stop_at_step" and (tmp_path / "b" / CHECKPOINT_NAME).is_file()
    rest = train(_config(data, tmp_path / "b", **kw), resume="auto", progress=False)
    assert rest.step == 5 and rest.stopped == "done"
    assert first.losses + rest.losses == pytest.approx(straight.losses, rel=1e-6, abs=1e-7)
    a = from_pretrained(tmp_path / "a" / "final").state_dict()
    b = from_pretrained(tmp_path / "b" / "final").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_time_budget_stops_with_checkpoint_and_final_model(
    synthetic_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = synthetic_dataset(4, 2)
    cfg = _config(data, tmp_path / "run", max_steps=1000, time_budget_min=1e-4)
    result = train(cfg, progress=False)
    assert result.stopped == "time_budget" and 1 <= result.step < 1000
    ckpt = torch.load(tmp_path / "run" / CHECKPOINT_NAME, weights_only=False)
    assert ckpt["step"] == result.step
    net = from_pretrained(tmp_path / "run" / "final")
    meta = json.loads((tmp_path / "run" / "final" / "config.json").read_text())["metadata"]
    assert net.config.preset == "tiny"
    assert meta["training"]["stopped"] == "time_budget"
    assert meta["training"]["step"] == result.step
    assert set(meta["training"]["validation"]) >= {"order", "order_fg", "si_mae"}
    events = [json.loads(line)["event"] for line in (tmp_path / "run" / LOG_NAME).open()]
    assert events[0] == "start" and events[-1] == "end" and "val" in events


def test_resume_rejects_another_preset(
    synthetic_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = synthetic_dataset(4, 0)
    train(_config(data, tmp_path / "run", max_steps=1), progress=False)
    with pytest.raises(TrainingError, match="checkpoint is preset 'tiny'"):
        Trainer(_config(data, tmp_path / "run", preset="small"), resume="auto", progress=False)


def test_lr_schedule_warmup_then_cosine() -> None:
    assert lr_factor(0, 4, 20) == pytest.approx(0.25)
    assert lr_factor(3, 4, 20) == pytest.approx(1.0)
    assert lr_factor(4, 4, 20) == pytest.approx(1.0)
    assert lr_factor(12, 4, 20) == pytest.approx(0.5)
    assert lr_factor(20, 4, 20) == pytest.approx(0.0, abs=1e-12)
    assert lr_factor(20, 4, 20, min_ratio=0.1) == pytest.approx(0.1)


def test_param_groups_split_encoder_from_decoder_and_head() -> None:
    net = create_model("tiny")
    cfg = TrainConfig(encoder_lr=1e-5, learning_rate=1e-4)
    enc, rest = param_groups(net, cfg)
    assert (enc["lr"], rest["lr"]) == (1e-5, 1e-4)
    assert {id(p) for p in enc["params"]} == {id(p) for p in net.encoder.parameters()}
    expected = {id(p) for p in [*net.decoder.parameters(), *net.head.parameters()]}
    assert {id(p) for p in rest["params"]} == expected


def test_paper_recipe_matches_paper_code() -> None:
    cfg = make_config("paper")
    assert (cfg.encoder_lr, cfg.learning_rate, cfg.weight_decay) == (1e-6, 5e-6, 0.01)
    assert (cfg.warmup_steps, cfg.num_epochs, cfg.batch_size, cfg.grad_clip) == (100, 40, 16, 1.0)
    assert (cfg.preset, cfg.working_size) == ("depthpro", 1536)
    assert make_config("paper", batch_size=4).batch_size == 4
    default = make_config()
    assert (default.encoder_lr, default.learning_rate, default.weight_decay) == (1e-5, 1e-4, 1e-4)
    assert math.isclose(TrainConfig.from_dict(cfg.to_dict()).learning_rate, 5e-6)


def test_fit_cli_trains_and_reports(synthetic_dataset: Callable[..., Path], tmp_path: Path) -> None:
    data = synthetic_dataset(4, 1)
    save = tmp_path / "cli"
    args = ["fit", "--data-dir", str(data), "--save-dir", str(save), "--preset", "tiny",
            "--batch-size", "2", "--max-steps", "2", "--num-workers", "0", "--no-progress",
            "--use-edge-loss", "--val-every", "0"]  # fmt: skip
    out = CliRunner().invoke(train_cli, args)
    assert out.exit_code == 0, out.output
    assert "done at step 2/2" in out.output
    assert (save / "final" / "model.safetensors").is_file()
    cfg = json.loads((save / "final" / "config.json").read_text())["metadata"]["training"]["config"]
    assert cfg["use_edge_loss"] and cfg["edge_loss_weight"] == pytest.approx(0.1)
    # --resume alone continues from SAVE_DIR/checkpoint.pt
    again = CliRunner().invoke(train_cli, [*args, "--max-steps", "3", "--resume"])
    assert again.exit_code == 0, again.output
    assert "done at step 3/3" in again.output
    starts = [json.loads(x) for x in (save / LOG_NAME).open() if '"start"' in x]
    assert starts[-1]["resumed_from"] == str(save / CHECKPOINT_NAME) and starts[-1]["step"] == 2


def test_fit_cli_bad_input_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    save = tmp_path / "run"
    args = ["fit", "--data-dir", str(tmp_path / "empty"), "--save-dir", str(save)]
    out = CliRunner().invoke(train_cli, args)
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "not a dataset folder" in out.output
    assert not save.exists()  # nothing written for a run that never started
