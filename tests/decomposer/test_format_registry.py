"""The format registry: every writer module declares one Format, and everything that offers
formats reads the registry (adding a format = one module in decomposer/writers/ + its test)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import decomposer.writers as writers
from decomposer.cli import main
from decomposer.types import Decomposition
from decomposer.verify import verify_output
from decomposer.writers import (
    DEFAULT_FORMAT,
    FORMATS,
    default_output_path,
    format_for_path,
    formats,
    get_format,
    write_decomposition,
)
from decomposer.writers.base import Format

ROOT = Path(__file__).resolve().parents[2]
NOT_FORMATS = {"base", "index_map"}


def test_every_writer_module_declares_its_format_and_the_registry_has_them_all() -> None:
    declared = []
    for info in pkgutil.iter_modules(writers.__path__):
        if info.name in NOT_FORMATS:
            continue
        module = importlib.import_module(f"decomposer.writers.{info.name}")
        assert isinstance(getattr(module, "FORMAT", None), Format), f"{info.name} has no FORMAT"
        declared.append(module.FORMAT.name)
    assert sorted(declared) == sorted(FORMATS)
    assert tuple(f.name for f in formats()) == FORMATS and DEFAULT_FORMAT == "psd"
    assert {"psd", "ora", "png", "svg"} <= set(FORMATS)
    suffixes = [s for f in formats() for s in f.suffixes]
    assert len(suffixes) == len(set(suffixes)), "a suffix belongs to one format"


@pytest.mark.parametrize("fmt", [f.name for f in formats()])
def test_each_format_writes_and_passes_its_own_read_back_check(fmt: str, tmp_path: Path) -> None:
    from decomposer import decompose

    size = 96
    yy, xx = np.mgrid[0:size, 0:size]
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[:] = (30, 80, 160)
    rgb[np.hypot(yy - 48, xx - 40) < 30] = (240, 200, 30)
    rgb[20:60, 50:90] = (200, 40, 60)
    index = (rgb[..., 0] > 100).astype(np.float32) + (rgb[..., 1] < 100) * 1.0
    dec: Decomposition = decompose(rgb, layers=3, index_map=index)
    spec = get_format(fmt)
    target = default_output_path(tmp_path / "art.png", fmt)
    assert format_for_path(target) == fmt and target == spec.default_path(tmp_path / "art.png")
    written = write_decomposition(dec, target, fmt)
    assert written.is_dir() == spec.folder
    result = verify_output(written, dec.source_rgba)
    assert result.ok, result.message
    assert result.layers >= len(dec.layers)


def test_cli_offers_every_format_with_its_description() -> None:
    from decomposer.cli import main as command

    option = next(p for p in command.params if p.name == "fmt")
    assert list(option.type.choices) == list(FORMATS)
    result = CliRunner().invoke(main, ["--help"], terminal_width=400)
    text = " ".join(result.output.split())
    for fmt in formats():
        assert " ".join(f"{fmt.name}: {fmt.description}".split()) in text


def test_the_web_page_and_client_hard_code_no_format() -> None:
    page = (ROOT / "plugin_bridge" / "static" / "index.html").read_text()
    app = (ROOT / "plugin_bridge" / "static" / "app.js").read_text()
    for name in FORMATS:
        assert f"download-{name}" not in page and f'"result.{name}"' not in app
    assert "manifest.documents" in app
