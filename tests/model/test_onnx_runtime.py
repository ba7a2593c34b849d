"""The ONNX export of the shipped model and the onnxruntime path: the committed ONNX file is
the committed safetensors network, and onnxruntime and torch agree on the index map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

import model
from model.files import file_sha256
from model.onnx_export import export_onnx
from model.onnx_runtime import OnnxLayerIndexModel

VALIDATION = Path(__file__).resolve().parents[1] / "data" / "validation" / "rgb"
MAX_BYTES = 30 * 1024 * 1024
TOLERANCE = 1e-3  # issue 12: onnxruntime and torch agree within 1e-3 on the index map


@pytest.fixture(scope="module")
def torch_net():
    return model.load(runtime="torch")


@pytest.fixture(scope="module")
def onnx_net() -> OnnxLayerIndexModel:
    return model.load(runtime="onnx")


def _validation_images() -> list[np.ndarray]:
    paths = sorted(VALIDATION.glob("*.png"))
    assert len(paths) >= 19  # every bundled validation image
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def test_the_committed_onnx_is_small_and_exported_from_the_committed_safetensors() -> None:
    folder = model.default_weights_dir()
    onnx_path = folder / "model.onnx"
    assert onnx_path.is_file(), "run: decompose-train export-onnx model/weights/default"
    assert onnx_path.stat().st_size <= MAX_BYTES
    meta = ort.InferenceSession(str(onnx_path)).get_modelmeta().custom_metadata_map
    assert meta["source_sha256"] == file_sha256(folder / "model.safetensors"), (
        "model.safetensors changed: re-export with decompose-train export-onnx "
        "model/weights/default"
    )
    shipped = json.loads((folder / "config.json").read_text())["config"]
    assert json.loads(meta["config"]) == shipped
    assert meta["storage"] == "fp16" and int(meta["opset"]) <= 21 and meta["batch"] == "1"


def test_onnx_and_torch_agree_on_the_validation_images(torch_net, onnx_net) -> None:
    images = _validation_images()
    want = model.predict_index_map(torch_net, images, device="cpu")
    got = model.predict_index_map(onnx_net, images)
    for a, b in zip(want, got, strict=True):
        assert b.shape == a.shape and b.dtype == np.float32
        assert np.abs(a - b).max() < TOLERANCE


@pytest.mark.parametrize("hw", [(1, 1), (2, 3), (37, 1001), (1001, 37), (255, 257), (97, 61)])
def test_onnx_and_torch_agree_on_odd_sizes(torch_net, onnx_net, hw: tuple[int, int]) -> None:
    image = _validation_images()[hw[0] % 12]
    crop = np.ascontiguousarray(image[: hw[0], : hw[1]])
    if crop.shape[:2] != hw:  # larger than the image: resample it up to the size
        crop = np.asarray(Image.fromarray(image).resize((hw[1], hw[0])))
    a = model.predict_index_map(torch_net, crop, device="cpu")
    b = model.predict_index_map(onnx_net, crop)
    assert a.shape == b.shape == hw
    assert np.abs(a - b).max() < TOLERANCE


def test_batches_and_flip_averaging_agree(torch_net, onnx_net) -> None:
    images = [im[:120, :200] for im in _validation_images()[:3]]
    want = model.predict_index_map(torch_net, images, device="cpu", tta=True, batch_size=2)
    got = model.predict_index_map(onnx_net, images, tta=True, batch_size=2)
    for a, b in zip(want, got, strict=True):
        assert np.abs(a - b).max() < TOLERANCE
    assert onnx_net.predict_index_map([]) == []
    with pytest.raises(ValueError, match="RGB uint8"):
        onnx_net.predict_index_map(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        onnx_net.predict_index_map(images[0], batch_size=0)


def test_export_of_a_small_network_round_trips(tmp_path: Path) -> None:
    with pytest.warns(model.RandomWeightsWarning):
        net = model.load("random:tiny")
    fp32 = export_onnx(
        net, tmp_path / "tiny32.onnx", storage="fp32", source_sha256="ab" * 32, batch=None
    )
    half = net.to(torch.float16).float()  # weights exactly representable in fp16
    fp16 = export_onnx(half, tmp_path / "tiny16.onnx", storage="fp16")
    assert fp16.stat().st_size < 0.7 * fp32.stat().st_size  # the graph itself is ~0.1 MB
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    for torch_model, path in ((net, fp32), (half, fp16)):
        loaded = model.load(path)
        assert isinstance(loaded, OnnxLayerIndexModel) and loaded.config == torch_model.config
        a = model.predict_index_map(torch_model, image, device="cpu")
        assert np.abs(a - model.predict_index_map(loaded, image)).max() < 1e-5
    assert model.load(fp32).source_sha256 == "ab" * 32
    batches = [model.load(p).session.get_inputs()[0].shape[0] for p in (fp32, fp16)]
    assert isinstance(batches[0], str) and batches[1] == 1  # dynamic, fixed
    pair = [image, image[:20, :9]]  # a fixed batch of 1 still takes lists
    for a, b in zip(model.predict_index_map(half, pair, device="cpu"),
                    model.predict_index_map(model.load(fp16), pair, batch_size=2), strict=True):  # fmt: skip
        assert np.abs(a - b).max() < 1e-5
    assert not list(tmp_path.glob(".*.tmp"))  # atomic: no temp files left behind
