"""The depthpro preset equals Apple's checkpoint layout (minus fov.*), built on meta."""

from __future__ import annotations

import pytest
import torch

from model import create_model


@pytest.fixture(scope="module")
def meta_depthpro() -> torch.nn.Module:
    with torch.device("meta"):
        return create_model("depthpro")


def test_state_dict_keys_and_shapes_equal_manifest(meta_depthpro, depth_pro_manifest) -> None:
    ref = [
        (k, tuple(s)) for k, s, _ in depth_pro_manifest["state_dict"] if not k.startswith("fov.")
    ]
    got = [(k, tuple(v.shape)) for k, v in meta_depthpro.state_dict().items()]
    ref_keys, got_keys = dict(ref), dict(got)
    assert [k for k in ref_keys if k not in got_keys] == []  # 0 missing
    assert [k for k in got_keys if k not in ref_keys] == []  # 0 unexpected
    assert got == ref  # same shapes, same order
    assert len(got) == depth_pro_manifest["num_tensors_without_fov"]
    numel = sum(p.numel() for p in meta_depthpro.parameters())
    assert numel == depth_pro_manifest["total_numel_without_fov"]
    assert list(meta_depthpro.buffers()) == []


def test_activation_shapes_match_manifest(meta_depthpro, depth_pro_manifest) -> None:
    """Meta-device forward at 1536²: every recorded stage has the recorded shape."""
    entries = {e["module"]: e for e in depth_pro_manifest["activation_shapes_1536"]["entries"]}
    seen: dict[str, object] = {}

    def shape_of(t):
        return [shape_of(v) for v in t] if isinstance(t, (list, tuple)) else list(t.shape)

    handles = []
    for name, module in meta_depthpro.named_modules():
        if name in entries and not name.startswith("fov"):
            handles.append(
                module.register_forward_hook(
                    lambda m, i, o, name=name: seen.__setitem__(name, shape_of(o))
                )
            )
    with torch.device("meta"):
        y = meta_depthpro(torch.zeros(1, 3, 1536, 1536))
    for h in handles:
        h.remove()
    assert y.shape == (1, 1, 1536, 1536)
    checked = [n for n in entries if not n.startswith("fov") and n != "decoder" and n in seen]
    assert len(checked) >= 20
    for name in checked:
        assert seen[name] == entries[name]["output"], name
    # our decoder returns only the features (no FOV lowres output)
    assert seen["decoder"] == entries["decoder"]["output"][0]


def test_patch_encoder_sees_all_35_windows_in_one_batch(meta_depthpro) -> None:
    batches: list[int] = []
    h = meta_depthpro.encoder.patch_encoder.patch_embed.register_forward_hook(
        lambda m, i, o: batches.append(i[0].shape[0])
    )
    with torch.device("meta"):
        meta_depthpro(torch.zeros(2, 3, 1536, 1536))
    h.remove()
    assert batches == [35 * 2]
