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


def test_export_with_onnx_writes_the_same_network_for_onnxruntime(tmp_path: Path) -> None:
    import model

    src = _trained_like(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", str(src), str(out), "--onnx"])
    assert result.exit_code == 0, result.output
    assert "model.onnx" in result.output
    onnx_net = model.load(out, runtime="onnx")
    assert isinstance(onnx_net, model.OnnxLayerIndexModel)
    image = np.random.default_rng(1).integers(0, 256, (33, 70, 3), dtype=np.uint8)
    want = predict_index_map(from_pretrained(out), image, device="cpu")
    assert np.abs(model.predict_index_map(onnx_net, image) - want).max() < 1e-4

    # export-onnx re-creates it from the folder's weights (what to run after retraining)
    (out / "model.onnx").unlink()
    result = CliRunner().invoke(main, ["export-onnx", str(out)])
    assert result.exit_code == 0, result.output
    from model.files import file_sha256

    rebuilt = model.load(out, runtime="onnx")
    assert rebuilt.source_sha256 == file_sha256(out / "model.safetensors")

    # a plain re-export (no --onnx) removes the ONNX model, which would be stale
    result = CliRunner().invoke(main, ["export", str(src), str(out)])
    assert result.exit_code == 0, result.output
    assert not (out / "model.onnx").exists()


def test_export_onnx_of_a_folder_without_weights_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(main, ["export-onnx", str(tmp_path / "empty")])
    assert result.exit_code == 1
    assert "Error:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "empty" / "model.onnx").exists()
