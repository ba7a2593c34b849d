"""The driver loop: bounded in-flight files, lazy planning, claims, refusals, Ctrl-C."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

from decomposer.atomic import TempSweeper
from decomposer.batch.executors import ExecutorSettings, create_executor
from decomposer.batch.executors.threads import ThreadExecutor
from decomposer.batch.jobs import DONE, FileResult, Job, ModelSpec, RunOptions
from decomposer.batch.journal import JOURNAL_NAME, Journal
from decomposer.batch.plan import Plan, PlannedJob
from decomposer.batch.runner import BatchCallbacks, run_batch
from decomposer.options import DecomposeOptions
from decomposer.processes import host_tag

OPTIONS = RunOptions(decompose=DecomposeOptions(layers=2), model=ModelSpec("random:tiny"))


class CountingThreads(ThreadExecutor):
    """The threads executor, counting how many files it holds at once."""

    def __init__(self, workers: int) -> None:
        super().__init__(ExecutorSettings(workers=workers))
        self.in_flight = 0
        self.most_in_flight = 0

    def submit(self, ticket: int, job: Job) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        super().submit(ticket, job)

    def wait(self, timeout: float) -> list[tuple[int, FileResult]]:
        done = super().wait(timeout)
        self.in_flight -= len(done)
        return done


def folder_of(art: Callable[..., Path], root: Path, count: int) -> Path:
    for number in range(count):
        art(root / f"img{number:02d}.png", number)
    return root


def test_files_in_flight_are_bounded_and_the_plan_is_read_as_needed(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    src = folder_of(art, tmp_path / "in", 8)
    pulled = {"count": 0, "at_first_result": -1}

    def counted() -> Iterator[PlannedJob]:
        for planned in Plan((str(src),), tmp_path / "out", "psd"):
            pulled["count"] += 1
            yield planned

    def finished(job: Job, result: FileResult) -> None:
        if pulled["at_first_result"] < 0:
            pulled["at_first_result"] = pulled["count"]

    executor = CountingThreads(workers=2)
    journal = Journal(tmp_path / "out" / JOURNAL_NAME)
    report = run_batch(counted(), OPTIONS, executor=executor, journal=journal,
                       callbacks=BatchCallbacks(finished=finished))  # fmt: skip
    assert report.totals()["done"] == 8 and report.exit_code() == 0
    assert executor.most_in_flight == 2
    assert pulled["at_first_result"] <= 3  # two in flight, and the one waiting for room
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    claims = [line["output"] for line in lines if line.get("event") == "claim"]
    done = [line["output"] for line in lines if "key" in line]
    assert sorted(claims) == sorted(done) and len(done) == 8
    for output in done:  # each file's claim is written before its done record
        events = [("claim" if "key" not in line else "done") for line in lines
                  if line["output"] == output]  # fmt: skip
        assert events == ["claim", "done"]
    report.close()


def test_nothing_to_run_never_starts_the_executor(tmp_path: Path, art: Callable[..., Path]) -> None:
    src = folder_of(art, tmp_path / "in", 2)
    unloadable = RunOptions(model=ModelSpec(str(tmp_path / "no-such-model")))
    journal = Journal(tmp_path / "out" / JOURNAL_NAME)
    plan = Plan((str(src),), tmp_path / "out", "psd")
    dry = run_batch(plan, unloadable, executor=create_executor("threads"), journal=journal,
                    dry_run=True)  # fmt: skip
    assert dry.totals()["planned"] == 2 and not (tmp_path / "out").exists()
    (tmp_path / "out").mkdir()
    for number in range(2):  # files the tool did not write are in the way
        (tmp_path / "out" / f"img{number:02d}.psd").write_bytes(b"an artist's file")
    seen: list[FileResult] = []
    report = run_batch(plan, unloadable, executor=create_executor("threads"), journal=journal,
                       callbacks=BatchCallbacks(finished=lambda j, r: seen.append(r)))  # fmt: skip
    assert report.totals()["failed"] == 2 and [r.error_kind for r in seen] == ["refused"] * 2
    assert (tmp_path / "out" / "img00.psd").read_bytes() == b"an artist's file"


def test_leftovers_of_killed_workers_are_swept_before_their_file_runs(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    src = folder_of(art, tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    leftover = out / f".img00.psd.abcdefgh.99999999-{host_tag('node-b')}.tmp"
    leftover.write_bytes(b"half a PSD")
    sweeper = TempSweeper(abandoned_unless_live=True)
    report = run_batch(Plan((str(src),), out, "psd"), OPTIONS, executor=create_executor("threads"),
                       journal=Journal(out / JOURNAL_NAME), sweeper=sweeper)  # fmt: skip
    assert report.totals()["done"] == 1 and sweeper.removed == [leftover]
    assert sorted(p.name for p in out.iterdir()) == [JOURNAL_NAME, "img00.psd"]


def test_first_ctrl_c_lets_running_files_stop_and_marks_the_rest(
    tmp_path: Path, art: Callable[..., Path]
) -> None:
    src = folder_of(art, tmp_path / "in", 5)
    started: list[Job] = []

    def on_start(job: Job) -> None:
        started.append(job)
        if len(started) == 2:
            signal.raise_signal(signal.SIGINT)  # as a terminal's Ctrl-C would

    results: list[FileResult] = []
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the tests run in the background
    report = run_batch(
        Plan((str(src),), tmp_path / "out", "psd"), OPTIONS,
        executor=create_executor("threads", ExecutorSettings(workers=1)),
        journal=Journal(tmp_path / "out" / JOURNAL_NAME),
        callbacks=BatchCallbacks(started=on_start, finished=lambda j, r: results.append(r)),
    )  # fmt: skip
    assert report.interrupted and report.exit_code() == 130
    assert len(started) == 2 and len(results) == 5
    assert [r.status for r in results[2:]] == ["interrupted"] * 3
    assert all(r.error and "not started" in r.error for r in results[2:])
    assert {r.status for r in results[:2]} <= {DONE, "interrupted"}
    assert signal.getsignal(signal.SIGINT) is before  # the caller's handler is put back
