"""The batch's plain data travels to other processes: pickling, absolute paths, the model spec."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from decomposer.batch.jobs import DONE, FileResult, Job, ModelSpec, RunOptions
from decomposer.errors import ModelLoadError
from decomposer.options import DecomposeOptions


def test_options_and_jobs_survive_pickling_and_anchor_relative_paths(tmp_path: Path) -> None:
    options = RunOptions(decompose=DecomposeOptions(layers=4), format="ora",
                         model=ModelSpec("random:tiny", "cpu"), verify=True)  # fmt: skip
    assert pickle.loads(pickle.dumps(options)) == options
    job = Job(Path("in/a.png"), Path("out/a.ora"), Path("/abs/depth.png"))
    moved = job.absolute(tmp_path)
    assert moved == Job(tmp_path / "in/a.png", tmp_path / "out/a.ora", Path("/abs/depth.png"))
    assert pickle.loads(pickle.dumps(moved)) == moved
    assert options.key_fields() == {**DecomposeOptions(layers=4).key_fields(), "format": "ora",
                                    "extras": True}  # fmt: skip


def test_model_spec_loads_names_and_makes_paths_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model import create_model, save_pretrained

    save_pretrained(create_model("tiny"), tmp_path / "weights")
    monkeypatch.chdir(tmp_path)
    spec = ModelSpec("weights")
    assert spec.label == "weights" and ModelSpec().label == "default"
    assert spec.absolute() == ModelSpec(str(tmp_path / "weights"))
    assert ModelSpec("random:tiny").absolute() == ModelSpec("random:tiny")  # a preset, not a path
    assert spec.load().config.preset == "tiny"
    assert spec.fingerprint() == spec.absolute().fingerprint()
    with pytest.raises(ModelLoadError, match="nowhere"):
        ModelSpec("nowhere").load()


def test_report_entries_leave_out_the_file_stats() -> None:
    result = FileResult.for_job(Job(Path("a.png"), Path("a.psd")), DONE, input_stat=[1, 2],
                                output_stamp=[3, 4], input_sha256="ab")  # fmt: skip
    entry = result.to_json()
    assert entry["input"] == "a.png" and entry["input_sha256"] == "ab"
    assert "input_stat" not in entry and "output_stamp" not in entry
