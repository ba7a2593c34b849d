"""Preset registry, config validation, shapes, parameter budgets and output activations."""

from __future__ import annotations

import pytest
import torch

from model import ModelConfig, create_model, list_presets
from model.config import ModelConfig as ConfigClass


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_registry_lists_the_presets() -> None:
    assert list_presets() == ["depthpro", "small", "lite0", "tiny"]


def test_unknown_preset_and_override_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        create_model("huge")
    with pytest.raises(ValueError, match="unknown override.*widht"):
        create_model("tiny", widht=3)


@pytest.mark.parametrize("size", [300, 384, 0])
def test_working_size_must_align_with_patches(size: int) -> None:
    with pytest.raises(ValueError, match="working_size must be a positive multiple of 256"):
        create_model("small", working_size=size)


def test_bad_activation_is_rejected() -> None:
    with pytest.raises(ValueError, match="output_activation"):
        create_model("tiny", output_activation="relu")


def test_config_is_frozen_and_round_trips_through_dict() -> None:
    cfg = create_model("small").config
    assert ModelConfig is ConfigClass
    with pytest.raises(AttributeError):
        cfg.working_size = 256  # type: ignore[misc]
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig fields: bogus"):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_parameter_budgets() -> None:
    assert n_params(create_model("tiny")) < 1_000_000
    assert n_params(create_model("small")) <= 30_000_000


def test_small_geometry_follows_working_size_and_weights_do_not() -> None:
    a = create_model("small")
    b = create_model("small", working_size=256)
    assert (a.config.working_size, a.config.window_size, a.config.grid_size) == (512, 128, 8)
    assert (b.config.window_size, b.config.grid_size) == (64, 4)
    assert [(k, v.shape) for k, v in a.state_dict().items()] == [
        (k, v.shape) for k, v in b.state_dict().items()
    ]
    b.load_state_dict(a.state_dict())  # weights trained at one size run at the other
    with torch.inference_mode():
        y = b.eval()(torch.randn(1, 3, 256, 256))
    assert y.shape == (1, 1, 256, 256)


def test_attribute_groups_partition_the_parameters() -> None:
    net = create_model("tiny")
    groups = [net.encoder, net.decoder, net.head]
    assert sum(n_params(m) for m in groups) == n_params(net)


@pytest.mark.parametrize(("name", "batch"), [("tiny", 2), ("small", 1), ("lite0", 2)])
def test_forward_shape_and_sigmoid_range(name: str, batch: int) -> None:
    torch.manual_seed(0)
    net = create_model(name).eval()
    s = net.config.working_size
    with torch.inference_mode():
        y = net(torch.randn(batch, 3, s, s))
    assert y.shape == (batch, 1, s, s)
    assert y.dtype == torch.float32
    assert torch.all((y > 0) & (y < 1))
    assert float(y.std()) > 0  # not a constant map
    assert torch.count_nonzero(net.head[4].bias) == 0  # last conv bias starts at 0


def test_inverse_activation_is_negated_clamped_reciprocal() -> None:
    torch.manual_seed(0)
    net = create_model("tiny", output_activation="inverse").eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.inference_mode():
        raw = net.forward_raw(x)
        y = net(x)
    expected = -1.0 / torch.clamp(torch.relu(raw), 1e-4, 1e4)
    torch.testing.assert_close(y, expected)
    assert float(y.max()) <= -1e-4 and float(y.min()) >= -1e4


def test_wrong_input_size_is_a_clear_error() -> None:
    net = create_model("tiny")
    with pytest.raises(ValueError, match="encoder input must be 256×256, got 128×128"):
        net(torch.zeros(1, 3, 128, 128))


def test_lite0_cnn_encoder_geometry_and_sizes() -> None:
    net = create_model("lite0", working_size=96)
    assert net.config.encoder == "cnn" and n_params(net) < 5_000_000
    feats = net.encoder(torch.zeros(1, 3, 96, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (32, 48, 48),
        (24, 24, 24),
        (40, 12, 12),
        (112, 6, 6),
        (320, 3, 3),
    ]
    with pytest.raises(ValueError, match="positive multiple of 32 for a CNN encoder"):
        create_model("lite0", working_size=100)
    with pytest.raises(ValueError, match="encoder_dims .* must equal the channels"):
        create_model("lite0", encoder_dims=(24, 40, 112, 256))
    with pytest.raises(ValueError, match="encoder must be one of"):
        create_model("lite0", encoder="rnn")
    with pytest.raises(ValueError, match="encoder input must be 96×96, got 64×64"):
        net(torch.zeros(1, 3, 64, 64))


def test_bf16_autocast_keeps_the_index_map_in_fp32() -> None:
    """Under bf16 autocast the head's last conv runs in fp32: the map is not bf16-quantised."""
    torch.manual_seed(0)
    net = create_model("tiny").eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
    assert y.dtype == torch.float32
    assert torch.unique(y).numel() > torch.unique(y.to(torch.bfloat16)).numel()
    with torch.inference_mode():  # a network cast to bf16 as a whole still runs
        assert net.to(torch.bfloat16)(x.to(torch.bfloat16)).dtype == torch.bfloat16
