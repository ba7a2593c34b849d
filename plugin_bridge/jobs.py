"""Job queue for the bridge: FIFO, one model worker thread, cancel, events, TTL, idempotency.

All job state is owned by the asyncio event loop; the only code that runs elsewhere is the
runner (in a single dedicated thread) and its progress callback, which hands updates back to the
loop with `call_soon_threadsafe`. Finished results are written to the work folder by the worker
(`plugin_bridge.storage`); the job keeps only their description, so memory does not grow with
the number of results kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from decomposer.errors import Cancelled
from decomposer.options import DecomposeOptions
from decomposer.writers import file_formats
from plugin_bridge.errors import ApiError
from plugin_bridge.workdir import WorkFolder

TERMINAL_STATES = ("finished", "failed", "cancelled")
ProgressCallback = Callable[[str, float], None]
INSTANCE_CHARS = 8  # job ids start with this many hex characters naming the bridge run
ID_CHARS = 32


class Runner(Protocol):
    """What the job manager runs: a model that is loaded once and then decomposes images.

    model_name / device_name / completion_modes describe it for `GET /v1/health`.
    """

    model_name: str

    @property
    def device_name(self) -> str:
        """Torch device the model runs on."""

    @property
    def completion_modes(self) -> tuple[str, ...]:
        """Accepted values of the `complete` parameter."""

    def load(self) -> None:
        """Load the model (called once, in the worker thread, before the first job)."""

    @property
    def loaded(self) -> bool:
        """True once `load` has completed."""

    def run(
        self,
        source: Path,
        size: tuple[int, int],
        params: DecomposeOptions,
        progress: ProgressCallback,
    ) -> Any:
        """Decompose the validated image file `source` of `size` (width, height); call
        `progress(stage, fraction)` at each stage (it raises to cancel); return a
        `decomposer.types.Decomposition`."""

    def error_of(self, exc: BaseException) -> ApiError | None:
        """Map a runner exception to a client-facing error, or None for "internal"."""


def document_links(base: str) -> dict[str, str]:
    """Format name -> URL of the whole layered document, one per file format of the registry."""
    return {fmt.name: f"{base}/result{fmt.suffix}" for fmt in file_formats()}


def params_json(options: DecomposeOptions) -> dict[str, Any]:
    """The job parameters as status replies show them (PROTOCOL.md names: layers, complete)."""
    return {"layers": options.layers, "complete": options.completion}


@dataclass(frozen=True)
class Event:
    """One job event. seq: per-job id from 1 (0 for heartbeats). type: SSE event name."""

    seq: int
    type: str
    data: dict[str, Any]

    def sse(self) -> bytes:
        """Server-Sent Events wire form."""
        lines = [] if self.seq == 0 else [f"id: {self.seq}"]
        lines += [f"event: {self.type}", f"data: {json.dumps(self.data, separators=(',', ':'))}"]
        return ("\n".join(lines) + "\n\n").encode("utf-8")


@dataclass
class Job:
    """One submitted image and everything known about its processing (loop-owned, mutable)."""

    id: str
    params: DecomposeOptions
    source: Path | None
    size: tuple[int, int]
    idempotency: tuple[str, str] | None = None
    upload_bytes: int = 0  # counted in the manager's pending bytes until the job starts
    state: str = "queued"
    stage: str | None = None
    progress: float = 0.0
    queue_position: int | None = None
    cancel_requested: bool = False
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    ttl_expires_at: float | None = None
    error: dict[str, Any] | None = None
    result: Any = None  # plugin_bridge.storage.StoredResult once finished
    events: list[Event] = field(default_factory=list)
    subscribers: set[asyncio.Queue] = field(default_factory=set)
    cancel_flag: threading.Event = field(default_factory=threading.Event)
    files: dict[str, Any] = field(default_factory=dict)
    file_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def terminal(self) -> bool:
        """True once finished, failed or cancelled."""
        return self.state in TERMINAL_STATES

    def links(self) -> dict[str, str]:
        """Relative URLs of this job's endpoints."""
        base = f"/v1/jobs/{self.id}"
        links = {"self": base, "events": f"{base}/events", "result": f"{base}/result"}
        links.update(document_links(base))
        links["index_map"] = f"{base}/index_map.png"
        return links

    def status(self) -> dict[str, Any]:
        """Status snapshot (GET /v1/jobs/{id})."""
        return {
            "id": self.id,
            "state": self.state,
            "stage": self.stage,
            "progress": self.progress,
            "queue_position": self.queue_position if self.state == "queued" else None,
            "cancel_requested": self.cancel_requested,
            "params": params_json(self.params),
            "image": {"width": self.size[0], "height": self.size[1]},
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "expires_at": self.expires_at,
            "error": self.error,
            "links": self.links(),
        }


_CLOSE = object()


class JobManager:
    """FIFO queue with one worker; every public method must be called on the event loop."""

    def __init__(
        self,
        runner: Runner,
        *,
        result_ttl_s: float,
        max_queued: int,
        heartbeat_s: float,
        fetched_grace_s: float = 600.0,
        max_pending_bytes: int = 1024**3,
        work_root: Path | None = None,
    ) -> None:
        self.runner = runner
        self.result_ttl_s = result_ttl_s
        self.fetched_grace_s = fetched_grace_s
        self.max_queued = max_queued
        self.max_pending_bytes = max_pending_bytes
        self.heartbeat_s = heartbeat_s
        self.work = WorkFolder(work_root)
        self.instance = secrets.token_hex(INSTANCE_CHARS // 2)
        self.started_at = time.time()
        self.pending_bytes = 0
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._running: Job | None = None
        self._keys: dict[str, Job] = {}
        self._wakeup = asyncio.Event()
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-model")
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._log = logging.getLogger("plugin_bridge.jobs")

    @property
    def workdir(self) -> Path:
        """The private work folder (uploads and results)."""
        return self.work.path

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and the expiry janitor on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            asyncio.create_task(self._worker(), name="bridge-worker"),
            asyncio.create_task(self._janitor(), name="bridge-janitor"),
        ]

    async def close(self) -> None:
        """Cancel everything, stop the tasks and delete the work folder."""
        for job in list(self._queue):
            self._finish(job, "cancelled")
        self._queue.clear()
        if self._running is not None:
            self._running.cancel_flag.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._model_thread.shutdown(wait=False, cancel_futures=True)
        self.work.close()

    # queries ---------------------------------------------------------------------------------

    @property
    def counts(self) -> dict[str, int]:
        """Number of queued and running jobs."""
        return {"queued": len(self._queue), "running": 0 if self._running is None else 1}

    def get(self, job_id: str) -> Job:
        """The job with this id; ApiError 404 unknown_job (with the likely reason) otherwise."""
        job = self._jobs.get(job_id)
        if job is not None:
            return job
        well_formed = len(job_id) == ID_CHARS and all(c in "0123456789abcdef" for c in job_id)
        if not well_formed:
            hint = "job ids are the 32 hex characters that POST /v1/jobs returned"
        elif job_id.startswith(self.instance):
            hint = (
                f"its result expired: results are kept {self.result_ttl_s:g} s after the job "
                f"ends (--result-ttl), and {self.fetched_grace_s:g} s after their last download; "
                "submit the image again"
            )
        else:
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at))
            hint = (
                f"the bridge was restarted (at {started}) after that job was submitted, and jobs "
                "do not survive a restart; submit the image again"
            )
        raise ApiError(404, "unknown_job", f"no job {job_id[:64]!r} on this bridge", hint)

    def reserve_upload(self, size: int) -> bool:
        """Count `size` more upload bytes as pending; False (nothing counted) if over the cap."""
        if size < 0 or self.pending_bytes + size > self.max_pending_bytes:
            return False
        self.pending_bytes += size
        return True

    def release_upload(self, size: int) -> None:
        """Stop counting `size` pending upload bytes (the upload was refused, or its job started)."""
        self.pending_bytes = max(0, self.pending_bytes - size)

    def fetched(self, job: Job) -> None:
        """Note a download of a finished job's result: it is kept `fetched_grace_s` from now,
        but never past its TTL."""
        if job.ttl_expires_at is not None:
            job.expires_at = min(job.ttl_expires_at, time.time() + self.fetched_grace_s)

    def find_key(self, idempotency_key: str, fingerprint: str) -> Job | None:
        """The job an idempotency key already made (None if new); 409 if the request differs."""
        old = self._keys.get(idempotency_key)
        if old is not None and old.idempotency != (idempotency_key, fingerprint):
            raise ApiError(
                409,
                "idempotency_conflict",
                "Idempotency-Key was already used for a different image or parameters",
                "use a new key for a new request",
            )
        return old

    # commands --------------------------------------------------------------------------------

    def submit(
        self,
        source: Path,
        size: tuple[int, int],
        params: DecomposeOptions,
        *,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        upload_bytes: int = 0,
    ) -> tuple[Job, bool]:
        """Queue a job for the validated image file `source` (the job owns its folder and its
        `upload_bytes` of pending bytes from now on); returns (job, created). A repeated
        idempotency key returns the old job (and the new upload is dropped)."""
        try:
            if idempotency_key is not None:
                old = self.find_key(idempotency_key, fingerprint)
                if old is not None:
                    self._drop_upload(source, upload_bytes)
                    return old, False
            if len(self._queue) >= self.max_queued:
                raise ApiError(
                    503,
                    "queue_full",
                    f"{len(self._queue)} jobs are already waiting",
                    "wait for some to finish and retry",
                )
        except ApiError:
            self._drop_upload(source, upload_bytes)
            raise
        job = Job(
            id=self.instance + secrets.token_hex((ID_CHARS - INSTANCE_CHARS) // 2),
            params=params,
            source=source,
            size=size,
            idempotency=None if idempotency_key is None else (idempotency_key, fingerprint),
            upload_bytes=upload_bytes,
        )
        self._jobs[job.id] = job
        if idempotency_key is not None:
            self._keys[idempotency_key] = job
        self._queue.append(job)
        job.queue_position = self._position_of(len(self._queue) - 1)
        self._publish(job, "queued", queue_position=job.queue_position)
        self._wakeup.set()
        return job, True

    def _drop_upload(self, source: Path, upload_bytes: int) -> None:
        shutil.rmtree(source.parent, ignore_errors=True)
        self.release_upload(upload_bytes)

    def upload_folder(self) -> Path:
        """A fresh private folder (created, 0700) for one upload, inside the work folder."""
        return self.work.subfolder("uploads", uuid.uuid4().hex)

    def cancel(self, job: Job) -> None:
        """Cancel: drop a queued job now, or ask the running one to stop at its next stage."""
        if job.terminal:
            return
        job.cancel_requested = True
        if job.state == "queued":
            self._queue.remove(job)
            self._finish(job, "cancelled")
            self._refresh_positions()
        else:
            job.cancel_flag.set()

    async def events(self, job: Job, after: int = 0) -> AsyncIterator[Event]:
        """Past events with seq > after, then live ones; heartbeats when idle; ends at terminal."""
        snapshot = list(job.events)
        queue: asyncio.Queue = asyncio.Queue()
        live = not job.terminal
        if live:
            job.subscribers.add(queue)
        try:
            for event in snapshot:
                if event.seq > after:
                    yield event
            while live:
                try:
                    item = await asyncio.wait_for(queue.get(), self.heartbeat_s)
                except asyncio.TimeoutError:
                    yield Event(0, "heartbeat", {"id": job.id, "time": time.time()})
                    continue
                if item is _CLOSE:
                    return
                yield item
        finally:
            job.subscribers.discard(queue)

    # internals -------------------------------------------------------------------------------

    def _position_of(self, index_in_queue: int) -> int:
        return index_in_queue + (0 if self._running is None else 1)

    def _refresh_positions(self) -> None:
        for i, job in enumerate(self._queue):
            position = self._position_of(i)
            if position != job.queue_position:
                job.queue_position = position
                self._publish(job, "queued", queue_position=position)

    def _publish(self, job: Job, kind: str, **data: Any) -> None:
        event = Event(len(job.events) + 1, kind, {"id": job.id, **data})
        job.events.append(event)
        for queue in job.subscribers:
            queue.put_nowait(event)

    def _finish(self, job: Job, state: str, **data: Any) -> None:
        job.state = state
        job.finished_at = time.time()
        job.ttl_expires_at = job.expires_at = job.finished_at + self.result_ttl_s
        if job.source is not None:  # (a finished job's upload file is in its result folder)
            shutil.rmtree(job.source.parent, ignore_errors=True)
            job.source = None
        self.release_upload(job.upload_bytes)
        job.upload_bytes = 0
        if state == "finished":
            job.progress = 1.0
        self._publish(job, state, **data)
        for queue in job.subscribers:
            queue.put_nowait(_CLOSE)
        self.expire(time.time())

    def _on_progress(self, job: Job, stage: str, fraction: float) -> None:
        if job.terminal:
            return
        fraction = min(max(float(fraction), 0.0), 0.99)
        job.progress = max(job.progress, fraction)
        if stage != job.stage:
            job.stage = stage
            self._publish(job, "stage", stage=stage, progress=job.progress)
        else:
            self._publish(job, "progress", progress=job.progress)

    def _run_in_thread(self, job: Job) -> Any:
        """Worker-thread body: load the model if needed, then decompose with cancel checks."""
        loop = self._loop
        assert loop is not None
        if not self.runner.loaded:
            self.runner.load()

        def progress(stage: str, fraction: float) -> None:
            if job.cancel_flag.is_set():
                raise Cancelled(f"job {job.id} cancelled")
            loop.call_soon_threadsafe(self._on_progress, job, stage, fraction)

        if job.cancel_flag.is_set():
            raise Cancelled(f"job {job.id} cancelled")
        assert job.source is not None
        decomposition = self.runner.run(job.source, job.size, job.params, progress)
        from plugin_bridge.storage import store_result  # storage builds on results, which uses Job

        folder = self.work.subfolder(job.id)
        try:
            return store_result(decomposition, folder, job.source)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._queue.popleft()
            self._running = job
            self.release_upload(job.upload_bytes)  # no longer waiting: off the pending budget
            job.upload_bytes = 0
            job.state = "running"
            job.queue_position = None
            job.started_at = time.time()
            self._publish(job, "started", started_at=job.started_at)
            self._refresh_positions()
            try:
                result = await loop.run_in_executor(self._model_thread, self._run_in_thread, job)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # the job fails, the worker lives on
                self._fail_or_cancel(job, exc)
            else:
                job.result = result  # the upload file itself moved into the result folder
                self._finish(
                    job,
                    "finished",
                    layer_count=len(result.layers),
                    result=job.links()["result"],
                )
            finally:
                self._running = None
                self._refresh_positions()

    def _fail_or_cancel(self, job: Job, exc: BaseException) -> None:
        if job.cancel_flag.is_set() and isinstance(exc, Cancelled):
            self._finish(job, "cancelled")
            return
        error = self.runner.error_of(exc)
        if error is None:
            self._log.error("job %s failed", job.id, exc_info=exc)
            error = ApiError(
                500,
                "internal",
                f"decomposition failed: {type(exc).__name__}: {exc}".splitlines()[0],
                "this is a bug; please report it with the image",
            )
        job.error = {"code": error.code, "message": error.message, "hint": error.hint}
        self._finish(job, "failed", error=job.error)

    async def _janitor(self) -> None:
        interval = min(max(min(self.result_ttl_s, self.fetched_grace_s) / 4, 0.05), 30.0)
        while True:
            await asyncio.sleep(interval)
            self.expire(time.time())

    def expire(self, now: float) -> None:
        """Forget ended jobs whose time has come (TTL, or grace after the last download)."""
        for job in [j for j in self._jobs.values() if j.expires_at is not None]:
            if job.expires_at <= now:
                self._forget(job)

    def _forget(self, job: Job) -> None:
        del self._jobs[job.id]
        if job.idempotency is not None:
            self._keys.pop(job.idempotency[0], None)
        job.result = None
        job.files.clear()
        shutil.rmtree(self.workdir / job.id, ignore_errors=True)
