"""The batch runner (the driver): stream the plan, decide skip / run / refuse per file, keep a
bounded number of files in flight on an executor, and record every result as it arrives.

Only the driver writes the journal and the report, whichever executor converts the files, so
resume, the report, exit codes, progress and Ctrl-C behave the same for threads and for Ray:

- Ctrl-C (SIGINT) once: no new file starts, files in progress abort at their next stage
  boundary, finished ones are journaled, nothing half-written remains; the report marks the
  rest "interrupted" (exit code 130). A second Ctrl-C raises KeyboardInterrupt at once
  (outputs stay atomic; the executor is closed on the way out).
- One bad file never stops the others; a model that cannot load stops the batch before any
  file is written (ModelLoadError).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from decomposer.atomic import TempSweeper
from decomposer.batch.executors import Executor
from decomposer.batch.jobs import (
    DONE,
    FAILED,
    INPUT_ERROR,
    INTERRUPTED,
    PLANNED,
    REFUSED,
    SKIPPED,
    FileResult,
    Job,
    RunOptions,
)
from decomposer.batch.journal import REFUSE, SKIP, Journal
from decomposer.batch.plan import PlannedJob
from decomposer.batch.report import BatchReport

POLL_SECONDS = 0.1  # how often the driver looks at Ctrl-C while waiting for results


@contextlib.contextmanager
def first_interrupt_sets(stop: threading.Event) -> Iterator[None]:
    """While active, the first Ctrl-C (SIGINT) only sets `stop`; a second one raises
    KeyboardInterrupt. Outside the main thread signals cannot be caught: nothing is installed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class BatchCallbacks:
    """Hooks for a UI. ready(description): the workers are up (e.g. "model tiny loaded in
    0.4 s; 2 threads"); started(job): a file was handed to a worker; finished(job, result): a
    file's final result (done, skipped, failed or interrupted), in arrival order;
    warning(message): a one-line problem that is not any one file's."""

    ready: Callable[[str], None] = lambda description: None
    started: Callable[[Job], None] = lambda job: None
    finished: Callable[[Job, FileResult], None] = lambda job, result: None
    warning: Callable[[str], None] = lambda message: None


def run_batch(
    plan: Iterable[PlannedJob],
    options: RunOptions,
    *,
    executor: Executor,
    journal: Journal,
    overwrite: bool = False,
    redo: bool = False,
    dry_run: bool = False,
    callbacks: BatchCallbacks | None = None,
    sweeper: TempSweeper | None = None,
) -> BatchReport:
    """Run a batch and return its report (the caller closes it).

    plan: jobs in order (streamed; see `Plan`). Conflicting jobs fail without running.
    journal: decides skip / run / refuse per job (`Journal.decide`) and records results.
    overwrite: existing files the tool did not write (or that changed since) may be replaced.
    redo: files done before are converted again (their outputs, ours, are replaced).
    dry_run: decide only; every file that would run is reported "planned".
    executor: started only when there is a file to convert, always closed at the end.
    sweeper: removes abandoned temp files of each output before its file runs.
    """
    calls = callbacks or BatchCallbacks()
    report = BatchReport(dry_run=dry_run, journal=str(journal.path))
    started = time.perf_counter()
    model_id = options.models_fingerprint()
    stop = threading.Event()
    in_flight: dict[int, Job] = {}
    state = {"started": False, "interrupt_sent": False, "claim_warned": False}

    def finish(job: Job, result: FileResult) -> None:
        report.add(result)
        calls.finished(job, result)

    def collect(timeout: float) -> None:
        if stop.is_set() and not state["interrupt_sent"]:
            executor.interrupt()
            state["interrupt_sent"] = True
        for ticket, result in executor.wait(timeout):
            job = in_flight.pop(ticket)
            if result.status == DONE and result.input_sha256 is not None:
                try:
                    journal.record(job, result, options, model_id)
                except OSError as exc:  # the output is fine; a later run just redoes it
                    result.warnings.append(
                        f"{journal.path}: cannot record {job.output} ({exc.strerror or exc})"
                    )
            finish(job, result)

    def dispatch(ticket: int, job: Job) -> bool:
        """Hand `job` to the executor once there is room; False when interrupted first."""
        if not state["started"]:
            state["started"] = True  # close() from here on, even if start() fails halfway
            calls.ready(executor.start(options))
        while len(in_flight) >= executor.capacity() and not stop.is_set():
            collect(POLL_SECONDS)
        if stop.is_set():
            return False
        if sweeper is not None:
            sweeper.sweep(job.output)
            if job.depth_out is not None:
                sweeper.sweep(job.depth_out)
        try:
            journal.claim(job)
        except OSError as exc:
            if not state["claim_warned"]:
                state["claim_warned"] = True
                calls.warning(f"{journal.path}: cannot write the journal ({exc.strerror or exc})")
        in_flight[ticket] = job
        calls.started(job)
        executor.submit(ticket, job)
        return True

    try:
        with first_interrupt_sets(stop):
            for ticket, planned in enumerate(plan):
                job = planned.job
                if stop.is_set():
                    finish(job, _not_started(job))
                    continue
                if planned.conflict is not None:
                    finish(job, FileResult.for_job(
                        job, FAILED, error=planned.conflict, error_kind=REFUSED
                    ))  # fmt: skip
                    continue
                try:
                    decision = journal.decide(
                        job, options, model_id, overwrite=overwrite, redo=redo
                    )
                except OSError as exc:
                    finish(job, FileResult.for_job(
                        job, FAILED, error=f"{job.source}: cannot read: {exc.strerror or exc}",
                        error_kind=INPUT_ERROR,
                    ))  # fmt: skip
                    continue
                if decision.action == SKIP:
                    finish(job, FileResult.for_job(job, SKIPPED))
                elif decision.action == REFUSE:
                    finish(job, FileResult.for_job(
                        job, FAILED, error=decision.message, error_kind=REFUSED
                    ))  # fmt: skip
                elif dry_run:
                    finish(job, FileResult.for_job(job, PLANNED))
                elif not dispatch(ticket, job):
                    finish(job, _not_started(job))
                if in_flight:
                    collect(0)
            while in_flight:
                collect(POLL_SECONDS)
    finally:
        if state["started"]:
            executor.close()
    report.interrupted = stop.is_set()
    report.seconds = time.perf_counter() - started
    return report


def _not_started(job: Job) -> FileResult:
    return FileResult.for_job(job, INTERRUPTED, error=f"{job.source}: not started (interrupted)")
