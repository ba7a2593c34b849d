"""The journal and the resume key: which outputs this tool wrote, from what, and whether they
may be skipped or replaced.

The journal (`.decompose-journal.jsonl`, JSON lines, in the output root) is written by the
driver alone, one line per event, appended as results arrive:

- a **claim** before a file is handed to a worker ("this tool is about to write OUTPUT"), so an
  output written by a worker whose driver died before hearing back is still known as ours;
- a **done** record after the output was written: the resume key, the input's content hash and
  [size, mtime_ns], and the output's [size, mtime_ns] stamp (of `manifest.json` for a PNG stack).

The resume key is sha256 over the input's content hash, the output-affecting options
(`RunOptions.key_fields()`, which includes `DecomposeOptions.key_fields()`), the weights'
fingerprint and whether an index map is requested.

Decisions (`Journal.decide`): an output that is absent is written; an output recorded done with
the same key and an unchanged stamp is skipped (unless `redo`); an output of ours (recorded, and
unchanged since, or claimed) may be replaced; any other existing file — one the tool did not
write, or one changed since it wrote it — is refused unless `overwrite`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from decomposer.batch.fingerprint import file_sha256
from decomposer.batch.jobs import FileResult, Job, RunOptions
from decomposer.writers.png_stack import MANIFEST_NAME

JOURNAL_NAME = ".decompose-journal.jsonl"
RUN, SKIP, REFUSE = "run", "skip", "refuse"
_CLAIMED, _DONE = "claimed", "done"


def resume_key(content_hash: str, options: RunOptions, job: Job, model_id: str) -> str:
    """sha256 over the input content hash, the output-affecting options, the weights'
    fingerprint and whether an index map is requested."""
    payload = json.dumps(
        {
            "input": content_hash,
            "options": options.key_fields(),
            "model": model_id,
            "depth": job.depth_out is not None,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def output_stamp(output: Path) -> list[int] | None:
    """[size, mtime_ns] of an output file (of manifest.json for a PNG stack), None if absent."""
    target = output / MANIFEST_NAME if output.is_dir() else output
    try:
        info = target.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


def file_stat(path: Path) -> list[int] | None:
    """[size, mtime_ns] of a file, None if it cannot be read."""
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


@dataclass(frozen=True)
class _Record:
    """The latest journal event for one output (kept compact: one per output in memory)."""

    state: str
    key: str | None = None
    stamp: tuple[int, ...] | None = None
    input_sha256: str | None = None
    input_stat: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Decision:
    """What to do with one job: "run" (replace: an existing output of ours may be replaced),
    "skip" (done before with the same key), or "refuse" (message: why, one line)."""

    action: str
    replace: bool = False
    message: str | None = None


def _tuple(value: object) -> tuple[int, ...] | None:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


class Journal:
    """Append-only JSON-lines record of claimed and finished outputs, keyed by output path.

    `warnings`: problems found while reading it (unreadable file, damaged lines), one line each.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            self.warnings.append(
                f"{self.path}: cannot read the journal ({exc.strerror or exc}); files done "
                "before are not recognised and their outputs are not replaced"
            )
            return
        lines = text.splitlines()
        damaged = 0
        for number, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                output = entry["output"]
                if entry.get("event") == "claim":
                    record = _Record(_CLAIMED)
                else:
                    record = _Record(
                        _DONE,
                        str(entry["key"]),
                        _tuple(entry.get("stamp")),
                        entry.get("input_sha256"),
                        _tuple(entry.get("input_stat")),
                    )
                self._records[str(output)] = record
            except (ValueError, KeyError, TypeError):
                # the last line may be cut short by a crash: that is simply not a record
                if number != len(lines) - 1 or text.endswith("\n"):
                    damaged += 1
        if damaged:
            self.warnings.append(f"{self.path}: {damaged} damaged line(s) ignored")

    def __len__(self) -> int:
        return len(self._records)

    def decide(
        self,
        job: Job,
        options: RunOptions,
        model_id: str,
        *,
        overwrite: bool = False,
        redo: bool = False,
    ) -> Decision:
        """Skip, run or refuse `job` (see the module docstring). Raises OSError when the input
        must be hashed and cannot be read."""
        stamp = output_stamp(job.output)
        depth_exists = job.depth_out is not None and job.depth_out.exists()
        record = self._records.get(str(job.output.resolve()))
        ours_unchanged = (
            record is not None
            and record.state == _DONE
            and stamp is not None
            and record.stamp == tuple(stamp)
        )
        if ours_unchanged and not redo and (job.depth_out is None or depth_exists):
            assert record is not None
            if self._same_key(job, record, options, model_id):
                return Decision(SKIP)
        if stamp is None and not depth_exists:
            return Decision(RUN)
        if ours_unchanged or (record is not None and record.state == _CLAIMED):
            return Decision(RUN, replace=True)
        if overwrite:
            return Decision(RUN, replace=True)
        if stamp is None:  # only the index map is there
            assert job.depth_out is not None
            return Decision(REFUSE, message=_exists(job.depth_out, "this tool did not write it"))
        if record is not None and record.state == _DONE:
            return Decision(REFUSE, message=_exists(job.output, "changed since this tool wrote it"))
        return Decision(REFUSE, message=_exists(job.output, "this tool did not write it"))

    @staticmethod
    def _same_key(job: Job, record: _Record, options: RunOptions, model_id: str) -> bool:
        """True when the input and options still give the recorded key. The input is hashed
        only when its size or mtime differ from the recorded ones (or none were recorded)."""
        stat = file_stat(job.source)
        if record.input_sha256 and stat is not None and record.input_stat == tuple(stat):
            content = record.input_sha256
        else:
            content = file_sha256(job.source)
        return resume_key(content, options, job, model_id) == record.key

    def _append(self, entry: dict[str, object], durable: bool) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())

    def claim(self, job: Job) -> None:
        """Record that `job`'s output is about to be written by this tool (before dispatch)."""
        output = str(job.output.resolve())
        self._append(
            {"event": "claim", "output": output, "input": str(job.source), "at": _now()}, False
        )
        self._records[output] = _Record(_CLAIMED)

    def record(self, job: Job, key: str, result: FileResult) -> None:
        """Append a finished output (after its atomic write completed), durably."""
        output = str(job.output.resolve())
        stamp = output_stamp(job.output)
        entry = {
            "output": output,
            "key": key,
            "input": str(job.source),
            "input_sha256": result.input_sha256,
            "input_stat": result.input_stat,
            "stamp": stamp,
            "layers": result.layers,
            "finished": _now(),
        }
        self._append(entry, True)
        self._records[output] = _Record(
            _DONE,
            key,
            None if stamp is None else tuple(stamp),
            result.input_sha256,
            None if result.input_stat is None else tuple(result.input_stat),
        )


def _exists(path: Path, why: str) -> str:
    return f"{path}: already exists and {why}; pass --overwrite to replace it"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
