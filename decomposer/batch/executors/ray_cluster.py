"""The Ray executor: files run in long-lived worker processes (Ray actors) across a cluster.

- Each worker loads the model once and converts one file at a time; the driver keeps at most
  `QUEUE_PER_WORKER` files queued per worker (back-pressure: the folder is never read into
  memory, and only paths and small results travel).
- Workers read inputs and write outputs by path, atomically: the input and output folders must
  be on storage every node sees at the same path (NFS, a cluster filesystem, a bind mount).
- A worker process that dies (kill -9, out of memory, a node lost) costs a retry of its files on
  another worker (Ray restarts the dead one); a file that kills `MAX_ATTEMPTS` workers is
  reported failed. A file that fails for its own reasons is reported once, never retried.
- With no address, a local cluster is started for the run (dashboard and usage statistics off)
  and stopped afterwards; with one, the run joins that cluster and leaves it running.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from decomposer.atomic import remove_stale_temps
from decomposer.batch.executors import ExecutorSettings
from decomposer.batch.jobs import FAILED, OTHER_ERROR, FileResult, Job, RunOptions
from decomposer.batch.worker import process_file
from decomposer.errors import DecomposerError, InvalidOptionError, ModelLoadError
from decomposer.processes import host_name, owner_tag

QUEUE_PER_WORKER = 2  # files handed to a worker at once: one converting, one waiting
MAX_ATTEMPTS = 3  # workers a file may take down before it is reported failed
START_TIMEOUT_SECONDS = 600.0  # for the first worker to load its model
LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2  # results are small; Ray's minimum is ~75 MiB
_CONTROL = "control"  # concurrency group for interrupt(), which runs while a file converts


class WorkerUnusable(RuntimeError):
    """Raised by a worker whose model did not load: its files go to other workers."""


class RayWorker:
    """One worker process: loads the model once, converts files one at a time.

    Runs inside Ray as an actor (`ray.remote` is applied by `RayExecutor.start`).
    """

    def __init__(self, options: RunOptions, cwd: str, verbose: bool) -> None:
        self.options = options
        self.cwd = Path(cwd)
        self.verbose = verbose
        self.stop = threading.Event()
        self.tag = owner_tag()
        self.error: str | None = None
        self.model: Any = None
        try:
            self.model = options.model.load() if options.needs_network() else None
        except Exception as exc:  # reported through ready(); the driver drops this worker
            message = " ".join(str(exc).split()) or type(exc).__name__
            self.error = f"{message} (on host {host_name()})"

    def ready(self) -> tuple[str, str, str | None]:
        """(owner tag, host, model-loading error or None)."""
        return self.tag, host_name(), self.error

    def process(self, job: Job, dead_tags: tuple[str, ...]) -> FileResult:
        """Convert one file. dead_tags: owner tags of workers that died on this file earlier,
        whose temp files are removed first."""
        if self.error is not None:
            raise WorkerUnusable(self.error)
        if dead_tags:
            absolute = job.absolute(self.cwd)
            for path in (absolute.output, absolute.depth_out):
                if path is not None:
                    remove_stale_temps(path.parent, target=path.name, dead=dead_tags)
        return process_file(
            job, self.options, self.model, stop=self.stop, verbose=self.verbose, cwd=self.cwd
        )

    def interrupt(self) -> None:
        """The file in progress stops at its next stage boundary; queued ones do not start."""
        self.stop.set()


@dataclass
class _Actor:
    handle: Any
    state: str = "starting"  # starting | ready | dead
    tag: str | None = None
    host: str | None = None
    ready_ref: Any = None
    load: int = 0


@dataclass
class _Flight:
    ticket: int
    job: Job
    actor: int
    attempt: int = 1
    dead_tags: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def worker_resources(device: str | None) -> tuple[dict[str, float], str | None]:
    """(Ray resources one worker asks for, the device name inside it) for a --device value.

    CPU: one CPU each. CUDA: one GPU each as well; Ray shows a worker only its own GPU, so any
    "cuda:N" becomes "cuda" inside the worker.
    """
    if device is not None and device.split(":")[0] == "cuda":
        return {"num_cpus": 1, "num_gpus": 1}, "cuda"
    return {"num_cpus": 1}, device


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InvalidOptionError(
            "--executor ray needs Ray: pip install 'illustrators-depth[ray]'"
        ) from None
    return ray


class RayExecutor:
    """Worker processes on a Ray cluster; `settings.workers` of them (default: one per CPU of
    the cluster, or one per GPU when the model's device is CUDA)."""

    name = "ray"

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self._ray: Any = None
        self._started_cluster = False
        self._actors: list[_Actor] = []
        self._flights: dict[Any, _Flight] = {}
        self.deaths = 0  # worker processes that died during the run

    # ------------------------------------------------------------------ start / stop

    def _connect(self) -> None:
        address = self.settings.ray_address
        if not address:
            # A cluster of our own for this run: no usage statistics sent anywhere, and it
            # listens on loopback only (Ray's switch for single-machine clusters; it must be
            # set before ray is imported).
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        ray = _import_ray()
        self._ray = ray
        common = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if address:
                ray.init(address=address, **common)
            else:
                ray.init(
                    address="local",  # a new cluster, even if another one runs on this machine
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                    **common,
                )
                self._started_cluster = True
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            message = " ".join(str(exc).split())
            raise DecomposerError(f"cannot connect to {where}: {message}") from None

    def start(self, options: RunOptions) -> str:
        started = time.perf_counter()
        self._connect()
        ray = self._ray
        resources, device = worker_resources(options.model.device)
        cluster = ray.cluster_resources()
        cpus, gpus = int(cluster.get("CPU", 1)), int(cluster.get("GPU", 0))
        count = self.settings.workers or max(1, gpus if "num_gpus" in resources else cpus)
        worker_class = ray.remote(
            **resources,
            max_restarts=-1,
            max_task_retries=0,
            concurrency_groups={_CONTROL: 1},
        )(RayWorker)
        portable = replace(options, model=replace(options.model.absolute(), device=device))
        cwd = str(Path.cwd())
        for _ in range(count):
            handle = worker_class.remote(portable, cwd, self.settings.verbose)
            self._actors.append(_Actor(handle, ready_ref=handle.ready.remote()))
        errors = self._await_first_ready(START_TIMEOUT_SECONDS)
        if not any(actor.state == "ready" for actor in self._actors):
            if errors:
                raise ModelLoadError(errors[0])
            raise DecomposerError(
                f"no Ray worker started within {START_TIMEOUT_SECONDS:.0f} s "
                f"(the cluster has {cpus} CPU(s); are they taken by other jobs?)"
            )
        seconds = time.perf_counter() - started
        nodes = len({n["NodeID"] for n in ray.nodes() if n.get("Alive")})
        return (
            f"model {options.model.label} loaded in {seconds:.2f} s; {count} Ray worker(s) "
            f"on a cluster of {nodes} node(s), {cpus} CPU(s)"
        )

    def _await_first_ready(self, timeout: float) -> list[str]:
        """Wait until a worker is ready or all failed; returns model-loading errors seen."""
        errors: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            errors += self._poll_ready(0.5)
            states = {actor.state for actor in self._actors}
            if "ready" in states or "starting" not in states:
                break
        return errors

    def _poll_ready(self, timeout: float) -> list[str]:
        """Collect workers' ready() answers; returns model-loading errors (those are dropped)."""
        ray = self._ray
        pending = {a.ready_ref: a for a in self._actors if a.ready_ref is not None}
        if not pending:
            return []
        done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=timeout)
        errors = []
        for ref in done:
            actor = pending[ref]
            actor.ready_ref = None
            try:
                tag, host, error = ray.get(ref)
            except ray.exceptions.RayActorError:
                actor.state = "dead"  # could not start (or restart) at all
                continue
            if error is not None:
                errors.append(error)
                actor.state = "dead"
                ray.kill(actor.handle, no_restart=True)
                continue
            actor.state, actor.tag, actor.host = "ready", tag, host
        return errors

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        self._ray = None
        try:
            if not self._started_cluster:
                for actor in self._actors:
                    if actor.state != "dead":
                        ray.kill(actor.handle, no_restart=True)
        finally:
            self._actors, self._flights = [], {}
            ray.shutdown()

    # ------------------------------------------------------------------ running files

    def _usable(self) -> list[int]:
        ready = [i for i, a in enumerate(self._actors) if a.state == "ready"]
        return ready or [i for i, a in enumerate(self._actors) if a.state == "starting"]

    def capacity(self) -> int:
        return QUEUE_PER_WORKER * len(self._usable())

    def submit(self, ticket: int, job: Job) -> None:
        self._dispatch(_Flight(ticket, job, actor=-1))

    def _dispatch(self, flight: _Flight, avoid: int | None = None) -> None:
        usable = self._usable()
        if not usable:
            raise DecomposerError(f"all {len(self._actors)} Ray workers died")
        others = [i for i in usable if i != avoid] or usable
        index = min(others, key=lambda i: self._actors[i].load)
        actor = self._actors[index]
        flight.actor = index
        ref = actor.handle.process.remote(flight.job, flight.dead_tags)
        actor.load += 1
        self._flights[ref] = flight

    def wait(self, timeout: float) -> list[tuple[int, FileResult]]:
        ray = self._ray
        self._poll_ready(0)
        if not self._flights:
            time.sleep(timeout)
            return []
        refs = list(self._flights)
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if done:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        finished: list[tuple[int, FileResult]] = []
        for ref in done:
            flight = self._flights.pop(ref)
            actor = self._actors[flight.actor]
            actor.load -= 1
            try:
                result: FileResult = ray.get(ref)
            except ray.exceptions.RayActorError:
                result = self._worker_died(flight)
                if result is None:
                    continue
            except WorkerUnusable:  # its model failed to load: drop it, the file goes elsewhere
                if actor.state != "dead":
                    actor.state = "dead"
                    ray.kill(actor.handle, no_restart=True)
                self._dispatch(flight)
                continue
            except ray.exceptions.RayError as exc:  # e.g. a lost node's result
                message = " ".join(str(exc).split())[:300]
                result = FileResult.for_job(
                    flight.job, FAILED, error=f"{flight.job.source}: Ray: {message}",
                    error_kind=OTHER_ERROR,
                )  # fmt: skip
            result.attempts = flight.attempt
            result.warnings = flight.notes + result.warnings
            finished.append((flight.ticket, result))
        return finished

    def _worker_died(self, flight: _Flight) -> FileResult | None:
        """The worker running `flight` died: retry elsewhere, or fail after MAX_ATTEMPTS."""
        actor = self._actors[flight.actor]
        who = f"worker {actor.tag or '?'}" + (f" on {actor.host}" if actor.host else "")
        if actor.state == "ready":  # Ray restarts it; it is used again once it answers
            self.deaths += 1
            actor.state = "starting"
            actor.ready_ref = actor.handle.ready.remote()
        if actor.tag is not None and actor.tag not in flight.dead_tags:
            flight.dead_tags += (actor.tag,)
        if flight.attempt >= MAX_ATTEMPTS:
            return FileResult.for_job(
                flight.job,
                FAILED,
                error=f"{flight.job.source}: {flight.attempt} worker processes died while "
                "converting it",
                error_kind=OTHER_ERROR,
            )
        flight.notes.append(
            f"{flight.job.source}: {who} died while converting it; converted again by another "
            "worker"
        )
        flight.attempt += 1
        self._dispatch(flight, avoid=flight.actor)
        return None

    def interrupt(self) -> None:
        for actor in self._actors:
            if actor.state != "dead":
                actor.handle.interrupt.options(concurrency_group=_CONTROL).remote()
