"""predict_index_map: exact output sizes, caller contract, batching, determinism, TTA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import create_model
from model.inference import _to_square, fit_geometry, predict_index_map, select_device


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_model("tiny")


def rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("hw", [(37, 1001), (1001, 37), (1, 1), (2, 3), (255, 257), (256, 256)])
def test_output_has_the_input_size(net, hw) -> None:
    y = predict_index_map(net, rgb(*hw), device="cpu")
    assert isinstance(y, np.ndarray) and y.shape == hw and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and np.all((y > 0) & (y < 1))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8, 4), np.uint8), "RGB uint8"),  # RGBA: caller composites first
        (np.zeros((8, 8), np.uint8), "RGB uint8"),  # grayscale: caller expands to RGB
        (np.zeros((8, 8, 3), np.float32), "RGB uint8"),
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        ([[1, 2, 3]], "numpy"),
    ],
)
def test_caller_contract_violations_raise_value_error(net, image, message) -> None:
    with pytest.raises(ValueError, match=message):
        predict_index_map(net, image, device="cpu")


def test_geometry_preserves_aspect_and_centres() -> None:
    assert fit_geometry(37, 1001, 256) == (9, 256, 123, 0)
    assert fit_geometry(1001, 37, 256) == (256, 9, 0, 123)
    assert fit_geometry(1, 1, 256) == (256, 256, 0, 0)
    # edge replication: a uniform image stays uniform after padding (no fake border layer)
    sq = _to_square(np.full((10, 40, 3), 200, np.uint8), 64, torch.device("cpu"))
    torch.testing.assert_close(sq, torch.full_like(sq, 200 / 255))


def test_lists_are_batched_and_match_single_calls(net) -> None:
    images = [rgb(40, 60, 1), rgb(300, 100, 2), rgb(256, 256, 3)]
    batched = predict_index_map(net, images, device="cpu", batch_size=2)
    assert isinstance(batched, list) and [b.shape for b in batched] == [i.shape[:2] for i in images]
    for im, b in zip(images, batched, strict=True):
        np.testing.assert_allclose(b, predict_index_map(net, im, device="cpu"), atol=1e-5)
    assert predict_index_map(net, [], device="cpu") == []


def test_deterministic_on_cpu_and_restores_training_flag(net) -> None:
    im = rgb(123, 77, 4)
    net.train()
    a = predict_index_map(net, im, device="cpu")
    assert net.training
    b = predict_index_map(net, im, device="cpu")
    assert np.array_equal(a, b)


def test_hflip_tta_averages_with_the_mirrored_prediction(net) -> None:
    im = rgb(256, 256, 5)
    plain = predict_index_map(net, im, device="cpu")
    mirrored = predict_index_map(net, np.ascontiguousarray(im[:, ::-1]), device="cpu")
    tta = predict_index_map(net, im, device="cpu", tta=True)
    np.testing.assert_allclose(tta, 0.5 * (plain + mirrored[:, ::-1]), atol=1e-5)
    assert not np.allclose(tta, plain, atol=1e-6)


def test_select_device() -> None:
    assert select_device("cpu") == torch.device("cpu")
    assert select_device().type in {"cuda", "mps", "cpu"}
    if not torch.cuda.is_available():
        assert select_device().type in {"mps", "cpu"}
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_bf16_network_gets_bf16_input_and_returns_float32() -> None:
    torch.manual_seed(0)
    net32 = create_model("tiny")
    net16 = create_model("tiny").to(torch.bfloat16)
    net16.load_state_dict(net32.state_dict())
    im = rgb(64, 96, 6)
    y16 = predict_index_map(net16, im, device="cpu")
    assert y16.dtype == np.float32
    np.testing.assert_allclose(y16, predict_index_map(net32, im, device="cpu"), atol=0.02)
