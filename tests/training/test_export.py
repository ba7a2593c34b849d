"""decompose-train export: fp16 storage for shipping, provenance kept, clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from model import create_model, from_pretrained, save_pretrained
from model.inference import predict_index_map
from training.cli import main


def _trained_like(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    net = create_model("tiny")
    return save_pretrained(net, tmp_path / "run", metadata={"training": {"steps": 7}})


def test_export_fp16_halves_weights_and_keeps_predictions(tmp_path: Path) -> None:
    src = _trained_like(tmp_path)
    result = CliRunner().invoke(main, ["export", str(src), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    size_src = (src / "model.safetensors").stat().st_size
    size_out = (out / "model.safetensors").stat().st_size
    assert size_out < 0.6 * size_src
    doc = json.loads((out / "config.json").read_text())
    assert doc["metadata"]["training"] == {"steps": 7}
    assert doc["metadata"]["export"]["storage_dtype"] == "fp16"
    assert len(doc["metadata"]["export"]["source_sha256"]) == 64

    image = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    a = predict_index_map(from_pretrained(src), image, device="cpu")
    b = predict_index_map(from_pretrained(out), image, device="cpu")
    assert b.dtype == np.float32 and b.shape == (40, 56)
    assert np.abs(a - b).max() < 1e-2


def test_export_of_a_folder_without_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(main, ["export", str(empty), str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "Error:" in result.output and "config" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()
