"""load_depth_pro on a synthetic checkpoint with Apple's real key names and shapes.

How it is built cheaply yet faithfully: a real ``.pt`` (torch.save zip format, read back with
``weights_only=True``) holding all 1119 keys of the manifest, fov.* included, each an fp16
tensor of the exact shape. Every tensor is a view of one shared random fp16 storage of the
largest tensor's size, and torch.save writes a shared storage once, so the file is ~8 MB instead
of 1.9 GB. The success case really loads all 647.7 M parameters (into bf16 to halve the memory);
corrupted variants fail during validation, before any allocation.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from model import CheckpointError, load_depth_pro


def synthetic_state_dict(manifest: dict) -> dict[str, torch.Tensor]:
    entries = [(k, tuple(s)) for k, s, _ in manifest["state_dict"]]
    largest = max(torch.Size(s).numel() for _, s in entries)
    base = torch.randn(largest, generator=torch.Generator().manual_seed(0)).half()
    return {k: base[: torch.Size(s).numel()].view(s) for k, s in entries}


@pytest.fixture(scope="module")
def state(depth_pro_manifest) -> dict[str, torch.Tensor]:
    return synthetic_state_dict(depth_pro_manifest)


def save(state: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(state, path)
    return path


def test_synthetic_file_is_small_and_complete(state, tmp_path) -> None:
    path = save(state, tmp_path / "depth_pro.pt")
    assert path.stat().st_size < 20_000_000
    assert len(state) == 1119 and sum(1 for k in state if k.startswith("fov.")) == 352


def test_loads_every_weight_and_reports_fov_as_ignored(state, tmp_path, caplog) -> None:
    path = save(state, tmp_path / "depth_pro.pt")
    with caplog.at_level(logging.INFO, logger="model.checkpoint"):
        net = load_depth_pro(path, dtype=torch.bfloat16)
    assert "ignored 352 fov.* keys" in caplog.text
    assert not net.training
    got = net.state_dict()
    assert len(got) == 767 and not any(k.startswith("fov.") for k in got)
    for key in (
        "encoder.patch_encoder.pos_embed",
        "encoder.image_encoder.blocks.23.mlp.fc2.weight",
        "decoder.fusions.4.resnet1.residual.1.weight",
        "head.4.bias",
    ):
        assert got[key].dtype == torch.bfloat16
        assert torch.equal(got[key], state[key].to(torch.bfloat16)), key
    del net, got


def test_wrong_shape_names_the_key(state, tmp_path) -> None:
    bad = dict(state)
    bad["decoder.convs.2.weight"] = torch.zeros(256, 512, 1, 1, dtype=torch.float16)
    with pytest.raises(CheckpointError, match=r"shape mismatch: decoder\.convs\.2\.weight"):
        load_depth_pro(save(bad, tmp_path / "bad.pt"))


def test_missing_key_is_named(state, tmp_path) -> None:
    bad = {k: v for k, v in state.items() if k != "encoder.fuse_lowres.bias"}
    with pytest.raises(CheckpointError, match=r"missing keys: encoder\.fuse_lowres\.bias"):
        load_depth_pro(save(bad, tmp_path / "bad.pt"))


def test_extra_non_fov_key_is_named_but_fov_is_not(state, tmp_path) -> None:
    bad = dict(state)
    bad["decoder.extra.weight"] = torch.zeros(3, dtype=torch.float16)
    with pytest.raises(CheckpointError, match=r"unexpected keys: decoder\.extra\.weight") as err:
        load_depth_pro(save(bad, tmp_path / "bad.pt"))
    assert "fov." not in str(err.value)


def test_untrusted_or_malformed_files_are_clear_errors(tmp_path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt: checkpoint file not found"):
        load_depth_pro(missing)
    listed = save([torch.zeros(2)], tmp_path / "list.pt")  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="not a flat state_dict"):
        load_depth_pro(listed)
    pickled = tmp_path / "object.pt"
    torch.save({"w": torch.zeros(1), "obj": Path("x")}, pickled)
    with pytest.raises(CheckpointError, match="weights-only"):
        load_depth_pro(pickled)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_depth_pro(garbage)
