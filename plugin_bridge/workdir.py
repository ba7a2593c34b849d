"""The bridge's private work folder (uploads, results), its owner lock, and crash clean-up.

Each running bridge makes `decompose-bridge-XXXXXXXX/` (mode 0700) in the system temp folder (or
`BridgeConfig.work_root`) and holds an exclusive lock on its `.owner.lock` file for its whole life.
The operating system drops that lock when the process dies, however it dies (`kill -9` too), so
at start-up a bridge can tell a dead bridge's folder from a live one's and remove it: only folders
named `decompose-bridge-*`, that are real folders (not links), owned by this user, whose lock file
can be locked. Folders from bridges older than the lock file (no `.owner.lock`) are removed once
nothing in them has changed for `LEGACY_IDLE_S`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

PREFIX = "decompose-bridge-"
LOCK_NAME = ".owner.lock"
LEGACY_IDLE_S = 24 * 3600.0
FOLDER_MODE = 0o700

_log = logging.getLogger("plugin_bridge.workdir")

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True


def _owned_by_me(info: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid == getuid()


class WorkFolder:
    """One bridge's work folder: created 0700 and locked on construction, removed by `close()`.

    `path` stays the same for the bridge's life; `ensure()` re-creates the folder (0700, locked
    again) if something deleted it meanwhile, e.g. a temp-folder cleaner.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.gettempdir())
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.root))  # mkdtemp makes 0700
        self._lock_fd: int | None = None
        self._lock()

    def _lock(self) -> None:
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        if not _try_lock(fd):
            os.close(fd)
            raise RuntimeError(f"{self.path}: work folder is locked by another process")
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
        self._lock_fd = fd

    def ensure(self) -> Path:
        """The folder, re-created with mode 0700 (and locked again) if it has vanished."""
        if not (self.path / LOCK_NAME).exists():
            _log.warning("work folder %s vanished; re-creating it", self.path)
            os.makedirs(self.path, mode=FOLDER_MODE, exist_ok=True)
            os.chmod(self.path, FOLDER_MODE)
            self._lock()
        return self.path

    def subfolder(self, *parts: str) -> Path:
        """`path/parts...`, each missing level created with mode 0700."""
        folder = self.ensure()
        for part in parts:
            folder = folder / part
            try:
                folder.mkdir(mode=FOLDER_MODE)
            except FileExistsError:
                continue
            os.chmod(folder, FOLDER_MODE)  # whatever the umask
        return folder

    def close(self) -> None:
        """Delete the folder and release the lock."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None


def is_stale_work_folder(folder: Path, now: float | None = None) -> bool:
    """True when `folder` is a dead bridge's work folder of this user (see the module docs)."""
    if not folder.name.startswith(PREFIX):
        return False
    try:
        info = folder.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or not _owned_by_me(info):
        return False
    lock = folder / LOCK_NAME
    try:
        lock_info = lock.lstat()
    except FileNotFoundError:
        return _idle_since(folder, info) < (time.time() if now is None else now) - LEGACY_IDLE_S
    except OSError:
        return False
    if not stat.S_ISREG(lock_info.st_mode) or not _owned_by_me(lock_info):
        return False
    try:
        fd = os.open(lock, os.O_RDWR | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return False
    try:
        return _try_lock(fd)  # locking succeeds only when no living process holds it
    finally:
        os.close(fd)  # closing drops our probe lock again


def _idle_since(folder: Path, info: os.stat_result) -> float:
    """Newest modification time of `folder` and its direct children (a legacy bridge's activity)."""
    newest = info.st_mtime
    with contextlib.suppress(OSError):
        for child in os.scandir(folder):
            with contextlib.suppress(OSError):
                newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return newest


def remove_stale_work_folders(root: Path | None = None) -> list[Path]:
    """Delete dead bridges' work folders under `root` (default: the temp folder); returns them."""
    base = Path(root) if root is not None else Path(tempfile.gettempdir())
    removed = []
    try:
        candidates = [entry for entry in base.iterdir() if entry.name.startswith(PREFIX)]
    except OSError:
        return removed
    for folder in candidates:
        if is_stale_work_folder(folder):
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
                _log.info("removed a dead bridge's work folder %s", folder)
    return removed


__all__ = ["WorkFolder", "is_stale_work_folder", "remove_stale_work_folders"]
