"""DecomposeRunner: the network is loaded only for jobs whose ordering runs it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from decomposer.errors import ModelLoadError
from decomposer.options import DecomposeOptions
from plugin_bridge.runner import DecomposeRunner


def _art(path: Path) -> Path:
    image = Image.new("RGB", (40, 32), (250, 250, 245))
    image.paste((200, 30, 40), (6, 6, 26, 22))
    image.paste((30, 60, 200), (14, 10, 34, 28))
    image.save(path)
    return path


def test_the_graph_ordering_never_loads_the_network(tmp_path: Path) -> None:
    art = _art(tmp_path / "art.png")
    runner = DecomposeRunner("random:tiny")  # no device: nothing to check at start-up
    runner.load()
    assert runner.loaded and not runner.network_loaded
    assert runner.device_name == "auto"
    dec = runner.run(art, (40, 32), DecomposeOptions(layers=3), lambda stage, f: None)
    assert len(dec.layers) == 3 and not runner.network_loaded
    with pytest.warns(UserWarning, match="random weights"):
        how = DecomposeOptions(layers=3, ordering="median")
        dec = runner.run(art, (40, 32), how, lambda stage, f: None)
    assert len(dec.layers) == 3 and runner.network_loaded and runner.device_name == "cpu"


def test_a_model_spec_that_names_nothing_fails_at_start_up(tmp_path: Path) -> None:
    runner = DecomposeRunner(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="nope: no such model"):
        runner.load()
    assert not runner.loaded


def test_an_explicit_device_loads_and_warms_the_network_at_start_up() -> None:
    runner = DecomposeRunner("random:tiny", "cpu")
    with pytest.warns(UserWarning, match="random weights"):
        runner.load()
    assert runner.network_loaded and runner.device_name == "cpu"
