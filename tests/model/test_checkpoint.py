"""save_pretrained / from_pretrained: exact round trip, config.json contents, strict errors."""

from __future__ import annotations

import json
import os
import stat

import pytest
import torch

from model import CheckpointError, create_model, from_pretrained, save_pretrained
from model.checkpoint import read_config


@pytest.mark.parametrize("name", ["tiny", "small"])
def test_round_trip_gives_identical_outputs(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    net = create_model(name).eval()
    out = save_pretrained(net, tmp_path / name, metadata={"steps": 12, "data": "unit-test"})
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    torch.manual_seed(1)  # a fresh random init must be fully overwritten by the load
    loaded = from_pretrained(out)
    assert loaded.config == net.config and not loaded.training
    s = net.config.working_size
    x = torch.randn(1, 3, s, s)
    with torch.inference_mode():
        assert torch.equal(net(x), loaded(x))


def test_config_json_records_preset_overrides_and_metadata(tmp_path) -> None:
    net = create_model("small", working_size=256, output_activation="inverse")
    save_pretrained(net, tmp_path, metadata={"epochs": 3})
    doc = json.loads((tmp_path / "config.json").read_text())
    assert doc["preset"] == "small"
    assert doc["overrides"] == {"working_size": 256, "output_activation": "inverse"}
    assert doc["input_size"] == [256, 256]
    assert doc["normalization"] == {"mean": [0.5] * 3, "std": [0.5] * 3}
    assert doc["output_activation"] == "inverse"
    cfg, meta = read_config(tmp_path)
    assert cfg == net.config and meta == {"epochs": 3}


def test_file_pair_paths_and_working_size_override(tmp_path) -> None:
    save_pretrained(create_model("tiny"), tmp_path)
    net = from_pretrained(tmp_path / "model.safetensors", working_size=512)
    assert net.config.working_size == 512
    assert from_pretrained(tmp_path / "config.json").config.working_size == 256
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 512, 512)).shape == (1, 1, 512, 512)


def test_mismatched_weights_name_the_keys(tmp_path) -> None:
    save_pretrained(create_model("tiny"), tmp_path)
    doc = json.loads((tmp_path / "config.json").read_text())
    doc["config"]["decoder_features"] = 8
    (tmp_path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match=r"shape mismatch: .*decoder\.convs\.1\.weight"):
        from_pretrained(tmp_path)


def test_missing_and_corrupt_files_are_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="config file not found"):
        from_pretrained(tmp_path)
    save_pretrained(create_model("tiny"), tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="unreadable safetensors"):
        from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="invalid model config"):
        from_pretrained(tmp_path)


def test_save_overwrites_atomically_without_leftovers(tmp_path) -> None:
    save_pretrained(create_model("tiny"), tmp_path)
    save_pretrained(create_model("tiny"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]


def test_unserialisable_metadata_is_rejected_before_writing(tmp_path) -> None:
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_pretrained(create_model("tiny"), tmp_path / "m", metadata={"when": object()})
    assert list((tmp_path / "m").iterdir()) == []


def test_saved_files_get_ordinary_permissions_not_mkstemps_0600(tmp_path) -> None:
    umask = os.umask(0o022)
    try:
        out = save_pretrained(create_model("tiny"), tmp_path / "m")
    finally:
        os.umask(umask)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name
