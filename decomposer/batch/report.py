"""The batch report: per-file results as they arrive, totals, the --report / --json document.

Results are spooled to an anonymous temp file (deleted when closed or when the process ends),
so a batch of a million files keeps only counters in memory; the document is streamed out at
the end. Files appear in the order their results arrived.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from decomposer.atomic import atomic_path
from decomposer.batch.jobs import FAILED, STATUSES, FileResult

REPORT_FORMAT = "illustrators-depth/batch-report"
REPORT_VERSION = 1


class BatchReport:
    """What a batch did: one entry per planned input, whether it was interrupted, how long it
    took (s), and the summed per-stage seconds of all files."""

    def __init__(self, *, dry_run: bool = False, journal: str | None = None) -> None:
        self.dry_run = dry_run
        self.journal = journal
        self.interrupted = False
        self.seconds = 0.0
        self.stage_seconds: dict[str, float] = {}
        self._counts = dict.fromkeys(STATUSES, 0)
        self._spool: IO[str] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115

    def add(self, result: FileResult) -> None:
        """Record one file's final result."""
        self._counts[result.status] += 1
        for stage, seconds in result.timings.items():
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        self._spool.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")

    def totals(self) -> dict[str, int]:
        """Count per status (done, skipped, failed, interrupted, planned)."""
        return dict(self._counts)

    def exit_code(self) -> int:
        """0 all done, 1 some failed, 130 interrupted."""
        if self.interrupted:
            return 130
        return 1 if self._counts[FAILED] else 0

    def files(self) -> Iterator[dict[str, Any]]:
        """The report entries, in arrival order."""
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield json.loads(line)
        self._spool.seek(0, 2)

    def _head(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_VERSION,
            "interrupted": self.interrupted,
            "dry_run": self.dry_run,
            "journal": self.journal,
            "seconds": round(self.seconds, 3),
            "totals": self.totals(),
        }

    def to_json(self) -> dict[str, Any]:
        """The whole document in memory (for small batches and tests)."""
        return {**self._head(), "files": list(self.files())}

    def dump(self, handle: IO[str]) -> None:
        """Stream the document (indented JSON, as `to_json()`) to a text handle."""
        head = json.dumps({**self._head(), "files": []}, indent=2, ensure_ascii=False)
        assert head.endswith("[]\n}")
        handle.write(head[: -len("[]\n}")] + "[")
        first = True
        for entry in self.files():
            text = json.dumps(entry, indent=2, ensure_ascii=False).replace("\n", "\n    ")
            handle.write(("\n    " if first else ",\n    ") + text)
            first = False
        handle.write("]\n}\n" if first else "\n  ]\n}\n")

    def write(self, path: Path) -> Path:
        """Write the document to `path` as JSON, atomically; returns the path."""
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as handle:
            self.dump(handle)
        return path

    def close(self) -> None:
        """Drop the spooled entries."""
        self._spool.close()

    def summary(self) -> str:
        """ "3 done, 1 failed" (statuses with a count)."""
        return ", ".join(f"{count} {status}" for status, count in self._counts.items() if count)
