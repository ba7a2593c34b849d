"""Executors: where the files of a batch are converted. A registry, one module per variant.

- `threads`: threads of this process sharing one model (one machine).
- `ray`: long-lived worker processes of a Ray cluster, each with its own model (many machines).

The batch runner (`decomposer.batch.runner`) drives any `Executor` the same way, so the journal,
the report, resume, exit codes, progress and Ctrl-C behave identically whichever runs the files.
Adding an executor = one module with a class following `Executor`, plus its line in `EXECUTORS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from decomposer.batch.jobs import FileResult, Job, RunOptions
from decomposer.errors import InvalidOptionError


@dataclass(frozen=True)
class ExecutorSettings:
    """How an executor is set up (the CLI's --workers, --ray-address).

    workers: parallel workers (threads, or Ray worker processes); None = the executor's default
        (threads: 1; ray: one per CPU of the cluster).
    ray_address: the Ray cluster to join ("HOST:PORT", "auto", "ray://HOST:10001"); None starts
        a local cluster for the run.
    verbose: tracebacks in per-file errors.
    """

    workers: int | None = None
    ray_address: str | None = None
    verbose: bool = False


class Executor(Protocol):
    """Runs jobs and hands back their results; created by `create_executor`.

    The runner calls `start` once (only when there is work), then `submit` while fewer than
    `capacity()` jobs are in flight, `wait` to collect results, `interrupt` on the first Ctrl-C,
    and `close` at the end (always, also after errors).
    """

    name: str

    def start(self, options: RunOptions) -> str:
        """Start the workers and load the model; returns a one-line description for the user
        ("model tiny loaded in 0.4 s; 2 threads"). Raises ModelLoadError or DecomposerError."""
        ...

    def capacity(self) -> int:
        """How many jobs may be in flight now (the back-pressure bound)."""
        ...

    def submit(self, ticket: int, job: Job) -> None:
        """Start (or queue) one job; `ticket` comes back with its result."""
        ...

    def wait(self, timeout: float) -> list[tuple[int, FileResult]]:
        """Results that finished, waiting up to `timeout` seconds for the first; may be empty.
        Each submitted ticket comes back exactly once."""
        ...

    def interrupt(self) -> None:
        """Files in progress stop at their next stage boundary; queued ones do not start."""
        ...

    def close(self) -> None:
        """Stop the workers and release what `start` took (idempotent)."""
        ...


# name -> "module:class"; modules are imported only when chosen (ray is an optional extra).
EXECUTORS = {
    "threads": "decomposer.batch.executors.threads:ThreadExecutor",
    "ray": "decomposer.batch.executors.ray_cluster:RayExecutor",
}


def create_executor(name: str, settings: ExecutorSettings | None = None) -> Executor:
    """The executor registered as `name`. Raises InvalidOptionError for an unknown name."""
    if name not in EXECUTORS:
        raise InvalidOptionError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
    module_name, class_name = EXECUTORS[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings or ExecutorSettings())
