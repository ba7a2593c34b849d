"""Batch conversion: plan inputs -> outputs, run them on an executor, resume safely.

Modules, one job each:
    jobs       RunOptions, ModelSpec, Job, FileResult (picklable data)
    plan       inputs (files, folders, globs) -> jobs, streamed; name collisions
    journal    which outputs this tool wrote; the resume key; skip / run / refuse
    lock       one batch per output folder (stale locks of dead processes detected)
    worker     running one file (decode, decompose, write atomically, verify)
    executors  where files run: threads of this process, or Ray worker processes
    runner     the driver loop: bounded in-flight files, journal and report as results arrive
    report     per-file results, totals, the --report document
    fingerprint  input content hash and the weights' fingerprint
"""

from decomposer.batch.executors import EXECUTORS, Executor, ExecutorSettings, create_executor
from decomposer.batch.jobs import (
    DONE,
    FAILED,
    INTERRUPTED,
    PLANNED,
    SKIPPED,
    FileResult,
    Job,
    ModelSpec,
    RunOptions,
)
from decomposer.batch.journal import JOURNAL_NAME, Journal
from decomposer.batch.lock import LOCK_NAME, BatchLock, BatchLocked
from decomposer.batch.plan import Plan, PlannedJob, Survey
from decomposer.batch.report import BatchReport
from decomposer.batch.runner import BatchCallbacks, run_batch
from decomposer.batch.worker import process_file

__all__ = [
    "DONE",
    "EXECUTORS",
    "FAILED",
    "INTERRUPTED",
    "JOURNAL_NAME",
    "LOCK_NAME",
    "PLANNED",
    "SKIPPED",
    "BatchCallbacks",
    "BatchLock",
    "BatchLocked",
    "BatchReport",
    "Executor",
    "ExecutorSettings",
    "FileResult",
    "Job",
    "Journal",
    "ModelSpec",
    "Plan",
    "PlannedJob",
    "RunOptions",
    "Survey",
    "create_executor",
    "process_file",
    "run_batch",
]
