"""Running one file: results name the file as given; stop requests; errors name the output."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from decomposer.batch.fingerprint import file_sha256
from decomposer.batch.jobs import DONE, FAILED, INTERRUPTED, FileResult, Job, ModelSpec, RunOptions
from decomposer.batch.worker import process_file
from decomposer.options import DecomposeOptions
from decomposer.processes import owner_tag
from decomposer.verify import read_layers

OPTIONS = RunOptions(decompose=DecomposeOptions(layers=3), model=ModelSpec("random:tiny"))


@pytest.fixture(scope="module")
def tiny() -> Any:
    return OPTIONS.model.load()


def test_a_file_is_converted_with_its_content_hash_and_worker(
    tmp_path: Path, art: Callable[..., Path], tiny: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    art(tmp_path / "in" / "a.png", 1)
    monkeypatch.chdir(tmp_path)
    job = Job(Path("in/a.png"), Path("out/a.psd"), Path("depth/a_index.png"))
    stages: list[str] = []
    result = process_file(job, OPTIONS, tiny, on_stage=stages.append)
    assert result.status == DONE and result.layers == 3 and result.attempts == 1
    assert result.input == "in/a.png" and result.output == "out/a.psd"
    assert result.input_sha256 == file_sha256(tmp_path / "in" / "a.png")
    assert result.input_stat == [(tmp_path / "in/a.png").stat().st_size,
                                 (tmp_path / "in/a.png").stat().st_mtime_ns]  # fmt: skip
    assert result.worker == owner_tag()
    assert stages[0] == "load" and "write" in stages
    assert len(read_layers(tmp_path / "out" / "a.psd").visible_layers()) == 3
    assert (tmp_path / "depth" / "a_index.png").is_file()


def test_relative_paths_resolve_against_the_drivers_folder(
    tmp_path: Path, art: Callable[..., Path], tiny: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    art(tmp_path / "in" / "b.png", 2)
    elsewhere = tmp_path / "worker-cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a worker process somewhere else
    job = Job(Path("in/b.png"), Path("out/b.psd"))
    result = process_file(job, OPTIONS, tiny, cwd=tmp_path)
    assert result.status == DONE and result.output == "out/b.psd"
    assert (tmp_path / "out" / "b.psd").is_file() and not (elsewhere / "out").exists()


def test_bad_inputs_and_stop_requests(tmp_path: Path, art: Callable[..., Path], tiny: Any) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but then garbage")
    failed = process_file(Job(bad, tmp_path / "bad.psd"), OPTIONS, tiny)
    assert failed.status == FAILED and failed.error_kind == "input"
    assert failed.error is not None and failed.error.startswith(f"{bad}: ")
    stop = threading.Event()
    stop.set()
    good = art(tmp_path / "good.png", 3)
    skipped = process_file(Job(good, tmp_path / "good.psd"), OPTIONS, tiny, stop=stop)
    assert skipped.status == INTERRUPTED and skipped.error == f"{good}: not started (interrupted)"
    assert not (tmp_path / "good.psd").exists()

    def stop_at_regions(stage: str) -> None:
        if stage == "regions":
            stop.set()

    stop.clear()
    aborted = process_file(Job(good, tmp_path / "good.psd"), OPTIONS, tiny, stop=stop,
                           on_stage=stop_at_regions)  # fmt: skip
    assert aborted.status == INTERRUPTED and not (tmp_path / "good.psd").exists()


def test_a_read_only_output_folder_names_the_output_not_the_temp_file(
    tmp_path: Path, art: Callable[..., Path], tiny: Any, read_only: Path
) -> None:
    source = art(tmp_path / "c.png", 4)
    result: FileResult = process_file(Job(source, read_only / "c.psd"), OPTIONS, tiny)
    assert result.status == FAILED
    assert result.error is not None
    assert result.error.startswith(f"{source}: cannot write {read_only / 'c.psd'}: ")
    assert ".tmp" not in result.error
