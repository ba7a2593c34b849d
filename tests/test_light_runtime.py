"""The light install: `decompose`, `decompose-bridge` and the decomposer API run without torch
(the shipped model on onnxruntime); the training commands and torch-only models say which extra
to install. "Without torch" is simulated by tests/no_torch (imports of torch, torchvision, timm
and safetensors fail); .ci/run also converts the example in a real venv without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_TORCH = ROOT / "tests" / "no_torch"
EXAMPLE = ROOT / "examples" / "house.png"
TORCH_FAMILY = ("torch", "torchvision", "timm", "safetensors")
LIGHT_MODULES = (
    "model",
    "model.loading",
    "model.onnx_runtime",
    "decomposer",
    "decomposer.cli",
    "decomposer.batch",
    "plugin_bridge.cli",
    "plugin_bridge.server",
    "plugin_bridge.runner",
)


def _python(code: str, *, torch: bool, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    paths = [str(ROOT)] if torch else [str(NO_TORCH), str(ROOT)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def _cli(*args: object, module: str = "decomposer.cli") -> str:
    """Code that runs a CLI's main() with ``args`` as its command line."""
    argv = [module, *map(str, args)]
    return f"import sys; sys.argv = {argv!r}; from {module} import main; main()"


def test_light_path_modules_import_no_torch_even_when_it_is_installed() -> None:
    family = set(TORCH_FAMILY)
    code = (
        f"import importlib, sys\nfor name in {list(LIGHT_MODULES)!r}: importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {family!r}))"
    )
    result = _python(code, torch=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_decompose_converts_the_example_without_torch(tmp_path: Path) -> None:
    out, depth = tmp_path / "house.psd", tmp_path / "house.npy"
    code = _cli(EXAMPLE, "-o", out, "--layers", 6, "--json")  # the default: graph ordering
    result = _python(code, torch=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["layers"] == 6 and Path(report["output"]) == out
    from decomposer import load_model, predict_index
    from decomposer.verify import read_layers

    back = read_layers(out)
    assert sum(back.visible) == 6  # plus the hidden extras (original image, index map)
    # the paper's ordering runs the network: onnxruntime's index map agrees with torch's
    median = tmp_path / "median.psd"
    code = _cli(EXAMPLE, "-o", median, "-n", 6, "--ordering", "median", "--depth-out", depth)
    result = _python(code, torch=False)
    assert result.returncode == 0, result.stderr
    torch_map = predict_index(EXAMPLE, model=load_model(runtime="torch"))
    assert np.abs(np.load(depth) - torch_map).max() < 1e-3


def test_the_bridge_runner_and_the_api_work_without_torch() -> None:
    code = (
        "from pathlib import Path\n"
        "from PIL import Image\n"
        "from decomposer.options import DecomposeOptions\n"
        "from plugin_bridge.runner import DecomposeRunner\n"
        "runner = DecomposeRunner()\n"
        "runner.load()\n"
        f"path = Path({str(EXAMPLE)!r})\n"
        "size = Image.open(path).size\n"
        "dec = runner.run(path, size, DecomposeOptions(layers=3), lambda stage, f: None)\n"
        "print(runner.network_loaded, len(dec.layers))\n"  # graph: no network
        "how = DecomposeOptions(layers=3, ordering='median')\n"
        "dec = runner.run(path, size, how, lambda stage, f: None)\n"
        "print(runner.network_loaded, runner.device_name, len(dec.layers))\n"
    )
    result = _python(code, torch=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "3", "True", "cpu", "3"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--model", "random:tiny"), 2, "needs PyTorch: pip install 'illustrators-depth[torch]'"),
        # as with torch on a machine without CUDA: the file fails (exit 1), in one line
        (
            ("--device", "cuda"),
            1,
            "needs the torch runtime (pip install 'illustrators-depth[torch]')",
        ),
    ],
)
def test_torch_only_requests_without_torch_name_the_extra(
    tmp_path: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    command = _cli(EXAMPLE, "-o", tmp_path / "x.psd", "--ordering", "median", *args)
    result = _python(command, torch=False)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.psd").exists()


@pytest.mark.parametrize("command", ["train_main", "eval_main"])
def test_training_commands_without_torch_name_the_train_extra(command: str) -> None:
    result = _python(
        f"import sys; sys.argv = ['x', '--help']; from training.entry import {command}; {command}()",
        torch=False,
    )
    assert result.returncode == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "needs torch" in line and "pip install 'illustrators-depth[train]'" in line


def test_training_commands_run_when_torch_is_installed() -> None:
    result = _python(
        "import sys; sys.argv = ['decompose-train', '--help']\n"
        "from training.entry import train_main; train_main()",
        torch=True,
    )
    assert result.returncode == 0 and "export-onnx" in result.stdout
