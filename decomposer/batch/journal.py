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
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from decomposer.batch.fingerprint import file_sha256, file_stat, output_stamp
from decomposer.batch.jobs import FileResult, Job, RunOptions

JOURNAL_NAME = ".decompose-journal.jsonl"
RUN, SKIP, REFUSE = "run", "skip", "refuse"
_CLAIMED, _DONE = "claimed", "done"


def _settings(options: RunOptions, job: Job, model_id: str) -> dict[str, object]:
    return {
        "options": options.key_fields(),
        "model": model_id,
        "depth": job.depth_out is not None,
    }


def resume_key(content_hash: str, options: RunOptions, job: Job, model_id: str) -> str:
    """sha256 over the input content hash, the output-affecting options, the weights'
    fingerprint and whether an index map is requested."""
    payload = json.dumps(
        {"input": content_hash, **_settings(options, job, model_id)}, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def settings_digest(options: RunOptions, job: Job, model_id: str) -> str:
    """sha256 over the resume key's parts other than the input (options, weights, index map):
    with an unchanged input stat it lets resume skip a file without reading it."""
    payload = json.dumps(_settings(options, job, model_id), sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# One record per output in memory, packed (a million outputs ~ 200 MB): state, the first 16 bytes
# of the resume key and of the settings digest, the output's [size, mtime_ns] stamp and the
# input's [size, mtime_ns] (-1 = unknown). Keyed by a 16-byte digest of the output path.
_PACKED = struct.Struct("<c16s16sqqqq")
_CLAIMED_RAW = _PACKED.pack(b"c", bytes(16), bytes(16), -1, -1, -1, -1)


def _path_key(output: Path | str) -> bytes:
    return hashlib.blake2b(str(output).encode("utf-8"), digest_size=16).digest()


def _hex16(text: object) -> bytes:
    try:
        return bytes.fromhex(str(text))[:16].ljust(16, b"\0") if text else bytes(16)
    except ValueError:
        return bytes(16)


def _pair(value: object) -> tuple[int, int]:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return int(value[0]), int(value[1])
    return -1, -1


@dataclass(frozen=True)
class _Record:
    """The latest journal event for one output."""

    state: str
    key: bytes = bytes(16)
    settings: bytes = bytes(16)
    stamp: tuple[int, int] = (-1, -1)
    input_stat: tuple[int, int] = (-1, -1)

    def pack(self) -> bytes:
        return _PACKED.pack(
            b"c" if self.state == _CLAIMED else b"d",
            self.key, self.settings, *self.stamp, *self.input_stat,
        )  # fmt: skip

    @classmethod
    def unpack(cls, raw: bytes) -> _Record:
        state, key, settings, size, mtime, in_size, in_mtime = _PACKED.unpack(raw)
        return cls(
            _CLAIMED if state == b"c" else _DONE, key, settings, (size, mtime), (in_size, in_mtime)
        )


@dataclass(frozen=True)
class Decision:
    """What to do with one job: "run" (replace: an existing output of ours may be replaced),
    "skip" (done before with the same key), or "refuse" (message: why, one line)."""

    action: str
    replace: bool = False
    message: str | None = None


class Journal:
    """Append-only JSON-lines record of claimed and finished outputs, keyed by output path.

    `warnings`: problems found while reading it (unreadable file, damaged lines), one line each.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []
        self._records: dict[bytes, bytes] = {}
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        damaged = 0
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                for line in handle:  # streamed: a million lines never sit in memory at once
                    if not line.strip():
                        continue
                    if not self._read_line(line) and line.endswith("\n"):
                        damaged += 1  # (a last line cut short by a crash is simply not a record)
        except OSError as exc:
            self.warnings.append(
                f"{self.path}: cannot read the journal ({exc.strerror or exc}); files done "
                "before are not recognised and their outputs are not replaced"
            )
            return
        if damaged:
            self.warnings.append(f"{self.path}: {damaged} damaged line(s) ignored")

    def _read_line(self, line: str) -> bool:
        try:
            entry = json.loads(line)
            output = entry["output"]
            if entry.get("event") == "claim":
                self._records[_path_key(output)] = _CLAIMED_RAW
                return True
            key = entry["key"]
        except (ValueError, KeyError, TypeError):
            return False
        record = _Record(
            _DONE,
            _hex16(key),
            _hex16(entry.get("settings")),
            _pair(entry.get("stamp")),
            _pair(entry.get("input_stat")),
        )
        self._records[_path_key(output)] = record.pack()
        return True

    def _record(self, output: Path) -> _Record | None:
        raw = self._records.get(_path_key(output.resolve()))
        return None if raw is None else _Record.unpack(raw)

    def __len__(self) -> int:
        return len(self._records)

    def wrote(self, path: Path) -> bool:
        """True when `path` is an output this journal records (claimed or done): one of this
        tool's own outputs, never to be taken as an input (`Plan.own_outputs`)."""
        return _path_key(path.resolve()) in self._records

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
        record = self._record(job.output)
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
        """True when the input and options still give the recorded key. The input is read and
        hashed only when its size or mtime differ from the recorded ones (or none were)."""
        stat = file_stat(job.source)
        if (
            stat is not None
            and record.input_stat == tuple(stat)
            and record.settings != bytes(16)
            and record.settings == _hex16(settings_digest(options, job, model_id))
        ):
            return True
        key = resume_key(file_sha256(job.source), options, job, model_id)
        return _hex16(key) == record.key

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
        self._records[_path_key(output)] = _CLAIMED_RAW

    def record(self, job: Job, result: FileResult, options: RunOptions, model_id: str) -> None:
        """Append a finished output (after its atomic write completed), durably.

        `result.input_sha256` is the content the worker read: the key is computed from it."""
        if result.input_sha256 is None:
            raise ValueError(f"{job.source}: no content hash to record")
        output = str(job.output.resolve())
        # The worker's own view of what it wrote (another node's writes may not be visible here
        # yet through a network filesystem's caches); else look now.
        stamp = result.output_stamp or output_stamp(job.output)
        key = resume_key(result.input_sha256, options, job, model_id)
        settings = settings_digest(options, job, model_id)
        entry = {
            "output": output,
            "key": key,
            "input": str(job.source),
            "input_sha256": result.input_sha256,
            "input_stat": result.input_stat,
            "settings": settings,
            "stamp": stamp,
            "layers": result.layers,
            "finished": _now(),
        }
        self._append(entry, True)
        record = _Record(
            _DONE, _hex16(key), _hex16(settings), _pair(stamp), _pair(result.input_stat)
        )
        self._records[_path_key(output)] = record.pack()


def _exists(path: Path, why: str) -> str:
    return f"{path}: already exists and {why}; pass --overwrite to replace it"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")
