"""The threads executor: files run in threads of this process, sharing one model.

The network runs in PyTorch, which releases the GIL; the pure-Python parts of a file do not,
so more threads than cores gains little. This is the default executor.
"""

from __future__ import annotations

import concurrent.futures as futures
import threading
import time

from decomposer.batch.executors import ExecutorSettings
from decomposer.batch.jobs import FileResult, Job, RunOptions
from decomposer.batch.worker import process_file


class ThreadExecutor:
    """`settings.workers` threads (default 1) sharing one model loaded once by `start`."""

    name = "threads"

    def __init__(self, settings: ExecutorSettings) -> None:
        self.workers = max(1, settings.workers or 1)
        self.verbose = settings.verbose
        self._stop = threading.Event()
        self._pool: futures.ThreadPoolExecutor | None = None
        self._running: dict[futures.Future[FileResult], int] = {}
        self._options: RunOptions | None = None
        self._model: object = None

    def start(self, options: RunOptions) -> str:
        started = time.perf_counter()
        self._model = options.model.load() if options.needs_network() else None
        self._options = options
        self._pool = futures.ThreadPoolExecutor(self.workers, thread_name_prefix="decompose")
        seconds = time.perf_counter() - started
        threads = f"{self.workers} thread{'s' if self.workers > 1 else ''}"
        if self._model is None:
            return f"no network needed (--ordering {options.decompose.ordering}); {threads}"
        return f"model {options.model.label} loaded in {seconds:.2f} s; {threads}"

    def capacity(self) -> int:
        return self.workers

    def submit(self, ticket: int, job: Job) -> None:
        assert self._pool is not None and self._options is not None, "start() first"
        future = self._pool.submit(
            process_file, job, self._options, self._model, stop=self._stop, verbose=self.verbose
        )
        self._running[future] = ticket

    def wait(self, timeout: float) -> list[tuple[int, FileResult]]:
        if not self._running:
            time.sleep(timeout)
            return []
        done, _ = futures.wait(self._running, timeout=timeout, return_when=futures.FIRST_COMPLETED)
        return [(self._running.pop(future), future.result()) for future in done]

    def interrupt(self) -> None:
        self._stop.set()

    def close(self) -> None:
        if self._pool is not None:
            self._stop.set()  # anything still running stops at its next stage boundary
            self._pool.shutdown(wait=True)
            self._pool = None
        self._model = None
