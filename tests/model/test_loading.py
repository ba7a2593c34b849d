"""model.load / model.fingerprint: one place resolves a model spec; a preset name never means
random weights; the runtime is chosen by what is installed; errors say what to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import model
from model import (
    CheckpointError,
    MissingDependencyError,
    OnnxLayerIndexModel,
    RandomWeightsWarning,
    UnknownModelError,
)

ROOT = Path(__file__).resolve().parents[2]
NO_TORCH = ROOT / "tests" / "no_torch"


def _without_torch(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a Python where torch, timm and safetensors cannot be imported."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(NO_TORCH), str(ROOT)])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def shipped_copy(tmp_path: Path) -> Path:
    """A copy of the shipped default folder (safetensors, config.json, model.onnx)."""
    return Path(shutil.copytree(model.default_weights_dir(), tmp_path / "copy"))


def test_default_and_the_shipped_preset_name_resolve_to_the_shipped_weights() -> None:
    shipped = model.default_weights_dir()
    preset = json.loads((shipped / "config.json").read_text())["preset"]
    for spec in (None, "default", preset):
        source = model.resolve(spec)
        assert source.kind == "saved" and source.path == shipped and source.label == "default"
    assert model.resolve(None).onnx_path == shipped / "model.onnx"


@pytest.mark.parametrize("name", ["tiny", "depthpro"])
def test_a_preset_without_shipped_weights_is_an_error_pointing_to_random(name: str) -> None:
    with pytest.raises(UnknownModelError, match=rf"^{name}: no shipped weights.*random:{name}"):
        model.load(name)
    with pytest.raises(UnknownModelError):
        model.fingerprint(name)


def test_random_networks_only_when_asked_with_a_warning_and_fixed_weights() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    with pytest.warns(RandomWeightsWarning, match=r"random:tiny: untrained network"):
        a = model.load("random:tiny")
    assert torch.equal(torch.rand(1), expected_next)  # the caller's RNG is untouched
    with pytest.warns(RandomWeightsWarning):
        b = model.load("random:tiny")
    assert a.config.preset == "tiny" and not a.training
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert model.fingerprint("random:tiny") == model.fingerprint("random:tiny") != ""
    with pytest.raises(UnknownModelError, match=r"^random:huge: unknown preset 'huge'"):
        model.load("random:huge")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no-such-model", r"no such model file or folder"),
        ("weights.bin", r"not a model file \(expected a folder"),
        ("emptydir", r"not a model folder \(no config.json"),
    ],
)
def test_bad_specs_are_one_line_errors_naming_the_spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.bin").write_bytes(b"x")
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(UnknownModelError, match=message) as info:
        model.load(spec)
    assert "\n" not in str(info.value) and spec in str(info.value)


def test_runtimes_auto_torch_and_onnx(shipped_copy: Path) -> None:
    assert isinstance(model.load(shipped_copy), model.LayerIndexNet)  # torch is installed here
    assert isinstance(model.load(shipped_copy, runtime="onnx"), OnnxLayerIndexModel)
    onnx_file = shipped_copy / "model.onnx"
    assert isinstance(model.load(onnx_file), OnnxLayerIndexModel)
    with pytest.raises(UnknownModelError, match="runs on onnxruntime only"):
        model.load(onnx_file, runtime="torch")
    (shipped_copy / "model.onnx").unlink()
    with pytest.raises(UnknownModelError, match="export one: decompose-train export-onnx"):
        model.load(shipped_copy, runtime="onnx")
    with pytest.raises(ValueError, match="runtime must be one of"):
        model.load(None, runtime="tensorflow")


def test_an_onnx_model_exported_from_other_weights_is_refused(shipped_copy: Path) -> None:
    weights = shipped_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # retrained weights, ONNX not re-exported
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"exported from other weights.*export-onnx"):
        model.load(shipped_copy, runtime="onnx")


def test_an_onnx_file_that_is_not_ours_is_a_checkpoint_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"definitely not protobuf")
    with pytest.raises(CheckpointError, match=r"junk.onnx: not a loadable ONNX model"):
        model.load(junk)


def test_fingerprint_follows_the_weights_not_the_runtime_or_metadata(shipped_copy: Path) -> None:
    default = model.fingerprint()
    assert len(default) == 64 and default == model.fingerprint("default")
    assert model.fingerprint(shipped_copy) == default  # same weights, same config
    doc = json.loads((shipped_copy / "config.json").read_text())
    doc["metadata"]["note"] = "edited provenance"
    (shipped_copy / "config.json").write_text(json.dumps(doc))
    assert model.fingerprint(shipped_copy) == default
    weights = shipped_copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    assert model.fingerprint(shipped_copy) != default
    onnx_print = model.fingerprint(shipped_copy / "model.onnx")
    assert len(onnx_print) == 64 and onnx_print != default


def test_loading_and_fingerprints_need_no_torch(tmp_path: Path) -> None:
    (tmp_path / "depth_pro.pt").write_bytes(b"checkpoint")
    code = (
        "import sys, warnings, model\n"
        "net = model.load()\n"
        "print(type(net).__name__, model.fingerprint() == model.fingerprint('default'))\n"
        "import numpy as np\n"
        "y = model.predict_index_map(net, np.zeros((5, 7, 3), np.uint8))\n"
        "print(y.shape, y.dtype)\n"
        f"for spec in ('random:tiny', {str(tmp_path / 'depth_pro.pt')!r}):\n"
        "    try:\n"
        "        model.load(spec)\n"
        "    except model.MissingDependencyError as exc:\n"
        "        print(exc)\n"
        "try:\n"
        "    model.predict_index_map(net, np.zeros((5, 7, 3), np.uint8), device='cuda')\n"
        "except model.MissingDependencyError as exc:\n"
        "    print(exc)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'timm', 'safetensors'}))\n"
    )
    result = _without_torch(code)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "OnnxLayerIndexModel True"
    assert lines[1] == "(5, 7) float32"
    assert lines[2] == (
        "random:tiny: an untrained tiny network needs PyTorch: "
        "pip install 'illustrators-depth[torch]'"
    )
    assert lines[3].endswith("depth_pro.pt: the Depth Pro network needs PyTorch: "
                             "pip install 'illustrators-depth[torch]'")  # fmt: skip
    assert "illustrators-depth[torch]" in lines[4] and "cuda" in lines[4]
    assert lines[5] == "[]"


def test_safetensors_without_onnx_and_without_torch_names_the_extra(shipped_copy: Path) -> None:
    (shipped_copy / "model.onnx").unlink()
    result = _without_torch(
        "import model\n"
        f"try:\n    model.load({str(shipped_copy)!r})\n"
        "except model.MissingDependencyError as exc:\n    print(exc)\n"
    )
    assert result.returncode == 0, result.stderr
    assert "needs PyTorch: pip install 'illustrators-depth[torch]'" in result.stdout


def test_missing_dependency_error_is_also_an_import_error() -> None:
    assert issubclass(MissingDependencyError, ImportError)
    assert issubclass(MissingDependencyError, model.ModelError)


def test_a_depth_pro_checkpoint_file_resolves_to_the_depthpro_loader(tmp_path: Path) -> None:
    path = tmp_path / "depth_pro.pt"
    torch.save({"not": torch.zeros(1)}, path)
    assert model.resolve(path).kind == "depthpro"
    with pytest.raises(CheckpointError, match="depth_pro.pt: missing keys"):
        model.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a real path is never "random"
        assert len(model.fingerprint(path)) == 64
