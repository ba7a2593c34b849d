"""One batch per output folder: a lock file next to the journal, held for the whole run.

The lock (`.decompose-journal.lock`, JSON) names its holder: host, pid, boot id and process start
time (`decomposer.processes.ProcessIdentity`). A second batch on the same folder refuses with a
one-line message naming the holder. A lock left by a process that no longer runs (killed with
`kill -9`, a crash, a reboot) is detected on the same host and taken over; a lock held from
another host cannot be checked from here, so the message says how to remove it by hand.

The lock file appears complete or not at all: it is written to a temp file and hard-linked
into place (an exclusive create that works on NFS too).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from decomposer.atomic import temp_affixes
from decomposer.errors import DecomposerError
from decomposer.processes import ProcessIdentity

LOCK_NAME = ".decompose-journal.lock"
_UNREADABLE_GRACE_SECONDS = 60.0  # a lock with no readable holder this old is abandoned


class BatchLocked(DecomposerError):
    """Another batch is converting into the same output folder."""


class BatchLock:
    """The lock of one output folder. Use as a context manager (acquire / release)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self.identity = ProcessIdentity.current()
        self._content = json.dumps(
            {
                **self.identity.to_json(),
                "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(sys.argv)[:500],
            }
        )
        self.held = False
        self.took_over: ProcessIdentity | None = None

    def holder(self) -> tuple[ProcessIdentity | None, str]:
        """(who holds the lock, its "since" text); (None, "") when absent or unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None, ""
        since = data.get("since", "") if isinstance(data, dict) else ""
        return ProcessIdentity.from_json(data), str(since)

    def acquire(self) -> None:
        """Take the lock; raises BatchLocked when a live batch holds it (or one on another
        host), OSError when the folder cannot be written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            if self._create():
                self.held = True
                return
            holder, since = self.holder()
            alive = holder.is_alive() if holder is not None else None
            if holder is None and not self._old_enough():
                time.sleep(0.05)  # someone may be creating it right now
                continue
            if holder is not None and alive is None:
                raise BatchLocked(
                    f"{self.path.parent}: another batch is converting into this folder "
                    f"({holder.describe()}, since {since or 'unknown'}); if it is no longer "
                    f"running, delete {self.path}"
                )
            if alive:
                assert holder is not None
                raise BatchLocked(
                    f"{self.path.parent}: another batch is converting into this folder "
                    f"({holder.describe()}, since {since or 'unknown'}); wait for it to finish"
                )
            if self._take_over():
                self.took_over = holder
        raise BatchLocked(f"{self.path}: could not take the lock (it keeps changing)")

    def _create(self) -> bool:
        """Exclusively create the lock with our content; False when it exists."""
        prefix, suffix = temp_affixes(self.path)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(self._content)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(name, self.path)
            except FileExistsError:
                return False
            except OSError:  # a filesystem without hard links: exclusive create instead
                return self._create_exclusive()
            return True
        finally:
            with contextlib.suppress(OSError):
                os.unlink(name)

    def _create_exclusive(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(self._content)
        return True

    def _old_enough(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime > _UNREADABLE_GRACE_SECONDS
        except OSError:
            return True

    def _take_over(self) -> bool:
        """Remove an abandoned lock; False when it changed meanwhile (another batch won)."""
        try:
            seen = self.path.read_bytes()
        except OSError:
            return False
        aside = self.path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}")
        try:
            os.replace(self.path, aside)
        except OSError:
            return False
        try:
            if aside.read_bytes() == seen:
                return True
            with contextlib.suppress(OSError):  # a fresh lock slipped in: put it back
                os.link(aside, self.path)
            return False
        finally:
            with contextlib.suppress(OSError):
                aside.unlink()

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        if not self.held:
            return
        self.held = False
        try:
            if self.path.read_text(encoding="utf-8") == self._content:
                self.path.unlink()
        except OSError:
            pass

    def __enter__(self) -> BatchLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
