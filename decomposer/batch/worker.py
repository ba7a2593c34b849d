"""Running one file: decode, decompose, write atomically, optionally write the index map and
verify. The same function runs in a thread of the driver and inside a Ray worker process.

`process_file` never raises for a per-file problem: the result carries the status and a
one-line error led by the input's path. Abort requests arrive through a `threading.Event`
checked at every stage boundary.
"""

from __future__ import annotations

import contextlib
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from decomposer.batch.fingerprint import file_sha256, file_stat, output_stamp
from decomposer.batch.jobs import (
    DONE,
    FAILED,
    INPUT_ERROR,
    INTERRUPTED,
    OTHER_ERROR,
    VERIFY_ERROR,
    FileResult,
    Job,
    RunOptions,
)
from decomposer.errors import Cancelled, DecomposerError, ImageLoadError
from decomposer.image_io import LoadedImage
from decomposer.processes import owner_tag
from decomposer.writers import write_decomposition, write_index_map


class StageClock:
    """Progress callback for `decompose`: times stages (s) and aborts when `stop` is set."""

    def __init__(
        self, stop: threading.Event | None, on_stage: Callable[[str], None] | None
    ) -> None:
        self.stop = stop
        self.on_stage = on_stage
        self.timings: dict[str, float] = {}
        self._stage: str | None = None
        self._since = time.perf_counter()

    def mark(self, stage: str) -> None:
        """Close the running stage and open `stage` (the label of the work that follows)."""
        now = time.perf_counter()
        if self._stage is not None:
            self.timings[self._stage] = self.timings.get(self._stage, 0.0) + now - self._since
        self._stage, self._since = stage, now
        if self.on_stage is not None:
            self.on_stage(stage)

    def __call__(self, stage: str, fraction: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Cancelled("interrupted")
        if stage != self._stage:
            self.mark(stage)

    def finish(self) -> None:
        """Close the running stage."""
        self.mark("done")
        self.timings.pop("done", None)
        self._stage = None


def named(source: Path, message: str) -> str:
    """The message led by the file's path as given (not just its name)."""
    text = str(source)
    if message.startswith(text):
        return message
    if message.startswith(f"{source.name}:"):
        return text + message[len(source.name) :]
    return message if text in message else f"{text}: {message}"


def _os_error(job: Job, io_job: Job, exc: OSError) -> str:
    """ "SOURCE: cannot write OUTPUT: reason" for errors on our outputs, else the OS message."""
    reason = exc.strerror or str(exc)
    for given, actual in ((job.output, io_job.output), (job.depth_out, io_job.depth_out)):
        if given is not None and exc.filename is not None and Path(exc.filename) == actual:
            return f"{job.source}: cannot write {given}: {reason}"
    return named(job.source, f"{type(exc).__name__}: {reason}")


def process_file(
    job: Job,
    options: RunOptions,
    model: Any,
    *,
    stop: threading.Event | None = None,
    on_stage: Callable[[str], None] | None = None,
    verbose: bool = False,
    image: LoadedImage | None = None,
    cwd: Path | None = None,
) -> FileResult:
    """Decode, decompose, write (atomically), optionally write the index map and verify one file.

    image: the job's input already decoded by the caller (read once, not twice); None reads it.
    cwd: the folder relative job paths are relative to (a worker process on another machine has
        its own working folder); None: this process's. Messages name paths as given in `job`.
    Never raises for a per-file problem: the result carries status and a one-line error naming
    the file. Raises nothing but KeyboardInterrupt/SystemExit.
    """
    from decomposer import decompose
    from decomposer.verify import verify_output

    io_job = job if cwd is None else job.absolute(cwd)
    result = FileResult.for_job(job, FAILED, attempts=1, worker=owner_tag())
    if stop is not None and stop.is_set():
        result.status, result.error = INTERRUPTED, f"{job.source}: not started (interrupted)"
        return result
    started = time.perf_counter()
    clock = StageClock(stop, on_stage)
    try:
        clock("load", 0.0)
        result.input_stat = file_stat(io_job.source)
        with contextlib.suppress(OSError):  # decoding below names the problem
            result.input_sha256 = file_sha256(io_job.source)
        dec = decompose(
            io_job.source if image is None else image,
            options.decompose,
            model=model,
            device=options.model.device,
            progress=clock,
        )
        result.warnings = [named(job.source, str(w)) for w in dec.info.get("warnings", [])]
        clock("write", 1.0)  # last chance to stop before anything is written
        write_decomposition(dec, io_job.output, options.format, extras=options.extras)
        if io_job.depth_out is not None:
            write_index_map(dec.index_map, io_job.depth_out)
            result.depth_out = str(job.depth_out)
        result.layers = len(dec.layers)
        result.output_stamp = output_stamp(io_job.output)
        if options.verify:
            clock.mark("verify")
            check = verify_output(io_job.output, dec.source_rgba, options.format)
            result.verified = check.ok
            if not check.ok:
                result.error, result.error_kind = named(job.source, check.message), VERIFY_ERROR
                return result
        result.status = DONE
    except Cancelled:
        result.status, result.error = INTERRUPTED, f"{job.source}: interrupted"
    except ImageLoadError as exc:
        result.error, result.error_kind = named(job.source, str(exc)), INPUT_ERROR
    except DecomposerError as exc:
        result.error, result.error_kind = named(job.source, str(exc)), OTHER_ERROR
    except OSError as exc:
        result.error, result.error_kind = _os_error(job, io_job, exc), OTHER_ERROR
    except Exception as exc:  # one bad file must never stop the batch
        message = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
        result.error, result.error_kind = named(job.source, message), OTHER_ERROR
        if verbose:
            result.error += "\n" + traceback.format_exc()
    finally:
        clock.finish()
        result.timings = clock.timings
        result.seconds = time.perf_counter() - started
    return result
