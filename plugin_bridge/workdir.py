"""The bridge's private work folder (uploads, results), its owner record, and crash clean-up.

Each running bridge makes `decompose-bridge-XXXXXXXX/` (mode 0700) in the system temp folder (or
`BridgeConfig.work_root`) and records in its `.owner.json` who made it: host, pid, boot id and
process start time (`decomposer.processes.ProcessIdentity`, the same record the batch lock uses),
so a reused pid or a reboot is not mistaken for the owner. At start-up a bridge removes the
folders of bridges that are gone, however they died (`kill -9` too): only folders named
`decompose-bridge-*`, that are real folders (not links), owned by this user, whose owner record
names a process of this host that no longer exists. Folders from bridges older than the owner
record (no `.owner.json`) are removed once nothing in them has changed for `LEGACY_IDLE_S`.
The clean-up runs on POSIX systems only.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path

from decomposer.processes import ProcessIdentity

PREFIX = "decompose-bridge-"
OWNER_NAME = ".owner.json"
LEGACY_IDLE_S = 24 * 3600.0
FOLDER_MODE = 0o700

_log = logging.getLogger("plugin_bridge.workdir")


def _owned_by_me(info: os.stat_result) -> bool:
    getuid = getattr(os, "getuid", None)
    return getuid is None or info.st_uid == getuid()


class WorkFolder:
    """One bridge's work folder: created 0700 with its owner record, removed by `close()`.

    `path` stays the same for the bridge's life; `ensure()` re-creates the folder (0700, with its
    owner record) if something deleted it meanwhile, e.g. a temp-folder cleaner.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else Path(tempfile.gettempdir())
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=self.root))  # mkdtemp makes 0700
        self.owner = ProcessIdentity.current()
        self._write_owner()

    def _write_owner(self) -> None:
        fd = os.open(self.path / OWNER_NAME, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.owner.to_json(), fh)

    def ensure(self) -> Path:
        """The folder, re-created with mode 0700 (and its owner record) if it has vanished."""
        if not (self.path / OWNER_NAME).exists():
            _log.warning("work folder %s vanished; re-creating it", self.path)
            os.makedirs(self.path, mode=FOLDER_MODE, exist_ok=True)
            os.chmod(self.path, FOLDER_MODE)
            self._write_owner()
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
        """Delete the folder."""
        shutil.rmtree(self.path, ignore_errors=True)


def is_stale_work_folder(folder: Path, now: float | None = None) -> bool:
    """True when `folder` is the work folder of a bridge of this user that is gone (see the
    module docs); False for anything else, including a folder whose owner may be alive."""
    if not folder.name.startswith(PREFIX) or os.name != "posix":
        # (elsewhere decomposer.processes cannot probe a pid safely: on Windows os.kill(pid, 0)
        # sends CTRL_C_EVENT; leave folders alone rather than guess)
        return False
    try:
        info = folder.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or not _owned_by_me(info):
        return False
    record = folder / OWNER_NAME
    try:
        record_info = record.lstat()
    except FileNotFoundError:
        return _idle_since(folder, info) < (time.time() if now is None else now) - LEGACY_IDLE_S
    except OSError:
        return False
    if not stat.S_ISREG(record_info.st_mode) or not _owned_by_me(record_info):
        return False
    try:
        owner = ProcessIdentity.from_json(json.loads(record.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        owner = None
    if owner is None:  # unreadable (e.g. cut short by a crash while written): judge by age
        return _idle_since(folder, info) < (time.time() if now is None else now) - LEGACY_IDLE_S
    return owner.is_alive() is False


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
