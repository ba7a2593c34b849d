"""The batch report: totals, exit codes, and the streamed document equal to the in-memory one."""

from __future__ import annotations

import json
from pathlib import Path

from decomposer.batch.jobs import DONE, FAILED, SKIPPED, FileResult
from decomposer.batch.report import BatchReport


def result(name: str, status: str, **fields: object) -> FileResult:
    return FileResult(input=f"in/{name}.png", output=f"out/{name}.psd", status=status, **fields)


def test_totals_exit_codes_and_stage_sums() -> None:
    report = BatchReport()
    assert report.exit_code() == 0 and report.summary() == ""
    report.add(result("a", DONE, timings={"predict": 0.5, "write": 0.1}))
    report.add(result("b", SKIPPED))
    report.add(result("c", DONE, timings={"predict": 0.25}))
    assert report.exit_code() == 0
    report.add(result("d", FAILED, error="in/d.png: not a supported image file"))
    assert report.totals() == {"done": 2, "skipped": 1, "failed": 1, "interrupted": 0,
                               "planned": 0}  # fmt: skip
    assert report.summary() == "2 done, 1 skipped, 1 failed"
    assert report.stage_seconds == {"predict": 0.75, "write": 0.1}
    assert report.exit_code() == 1
    report.interrupted = True
    assert report.exit_code() == 130
    report.close()


def test_the_streamed_document_is_the_in_memory_one(tmp_path: Path) -> None:
    report = BatchReport(journal="out/.decompose-journal.jsonl")
    for number in range(5):
        report.add(result(f"f{number}", DONE, layers=number, warnings=['a "quoted"\nnote']))
    report.seconds = 1.23456
    written = json.loads(report.write(tmp_path / "report.json").read_text())
    assert written == report.to_json()
    assert [e["input"] for e in written["files"]] == [f"in/f{n}.png" for n in range(5)]
    assert written["seconds"] == 1.235 and written["totals"]["done"] == 5
    assert "input_stat" not in written["files"][0]
    empty = BatchReport(dry_run=True)
    assert json.loads(empty.write(tmp_path / "empty.json").read_text())["files"] == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
