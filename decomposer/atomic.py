"""Atomic writes: a temp file (or folder) in the destination's own folder, then `os.replace`.

The one helper every writer uses, so that an interrupted or failed write never leaves a
half-written output that a later run could mistake for a finished one. Temp names start with
`.` and end with `.tmp` (`TEMP_SUFFIX`) so folder scans can skip them:
`.NAME.RANDOM.PID-HOST.tmp`, where PID-HOST (`decomposer.processes.owner_tag`) names the process
that made it. A process killed during a write (`kill -9`, a crash) leaves its temp behind;
`remove_stale_temps` / `TempSweeper` remove such leftovers later: only entries with our naming,
owned by the current user, whose maker is known dead (or that are older than
`STALE_AFTER_SECONDS`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from decomposer.processes import host_tag, owner_tag, pid_alive, tag_is_dead

TEMP_SUFFIX = ".tmp"
OLD_MARK = ".old"  # `atomic_dir` parks the folder it replaces in `.NAME.old.RANDOM.TAG.tmp/content`
STALE_AFTER_SECONDS = 24 * 3600  # a temp untouched this long is abandoned whoever made it
_TAG = re.compile(r"\d+-[0-9a-f]{8}")


def _current_umask() -> int:
    """The process umask (read once at import: os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def is_temp_name(name: str) -> bool:
    """True for names made by this module (hidden, ending in `.tmp`)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _named_error(exc: OSError, path: Path) -> OSError:
    """The same OS error, naming the output `path` instead of our temp file."""
    error = type(exc)(exc.errno, exc.strerror or str(exc), str(path))
    error.__cause__ = exc
    return error


def _fsync_file(path: Path) -> None:
    """Flush a finished file's data to disk before it is renamed into place."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_affixes(path: Path, old: bool = False) -> tuple[str, str]:
    """(prefix, suffix) for a temp entry next to `path`."""
    mark = OLD_MARK if old else ""
    return f".{path.name}{mark}.", f".{owner_tag()}{TEMP_SUFFIX}"


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temp path next to `path`; on success it replaces `path`, on any error it is removed.

    The parent folder is created if missing. OS errors (a read-only folder, a full disk) name
    `path`, not the temp file. Usage::

        with atomic_path("out.psd") as tmp:
            psd.save(tmp)
    """
    path = Path(path)
    prefix, suffix = temp_affixes(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise _named_error(exc, path) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{path}: the writer removed its temp file")
        try:
            _fsync_file(tmp)
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get ordinary permissions
            os.replace(tmp, path)
        except OSError as exc:
            raise _named_error(exc, path) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `path` atomically; returns the path."""
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temp folder next to `path`; on success it replaces the folder `path`.

    An existing folder at `path` is moved aside first and deleted only after the new one is in
    place; on any error the temp folder is removed and the old folder (if any) is left as it was.
    """
    path = Path(path)
    prefix, suffix = temp_affixes(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"{path}: exists and is not a folder")
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent))
    except FileExistsError:
        raise
    except OSError as exc:
        raise _named_error(exc, path) from exc
    try:
        yield tmp
        try:
            os.chmod(tmp, 0o777 & ~_UMASK)  # mkdtemp makes 0700
            old: Path | None = None
            if path.exists():
                old_prefix, old_suffix = temp_affixes(path, old=True)
                old = Path(tempfile.mkdtemp(prefix=old_prefix, suffix=old_suffix, dir=path.parent))
                os.replace(path, old / "content")
            try:
                os.replace(tmp, path)
            except BaseException:
                if old is not None:
                    os.replace(old / "content", path)
                raise
        except OSError as exc:
            raise _named_error(exc, path) from exc
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------ leftovers of killed writers


@dataclass(frozen=True)
class TempEntry:
    """A temp entry made by this module. target: the output's name; old: `atomic_dir`'s parked
    previous folder; tag: the maker's owner tag (None for names from before tags existed)."""

    path: Path
    target: str
    old: bool
    tag: str | None


def parse_temp_name(path: Path) -> TempEntry | None:
    """Our temp entry's parts, or None when the name is not one of ours."""
    name = path.name
    if not is_temp_name(name) or len(name) <= 1 + len(TEMP_SUFFIX):
        return None
    stem = name[1 : -len(TEMP_SUFFIX)]
    parts = stem.rsplit(".", 2)
    if len(parts) == 3 and _TAG.fullmatch(parts[2]):
        target, tag = parts[0], parts[2]
    else:  # the older `.NAME.RANDOM.tmp`
        parts = stem.rsplit(".", 1)
        if len(parts) != 2:
            return None
        target, tag = parts[0], None
    old = target.endswith(OLD_MARK)
    if old:
        target = target[: -len(OLD_MARK)]
    if not target:
        return None
    return TempEntry(path, target, old, tag)


def _is_stale(entry: TempEntry, dead: frozenset[str], older_than: float, now: float) -> bool:
    try:
        info = entry.path.lstat()
    except OSError:
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False  # only the current user's own leftovers
    if entry.tag is not None and (entry.tag in dead or tag_is_dead(entry.tag)):
        return True
    if _maker_alive_here(entry):
        return False  # a live writer's temp, however old
    return now - info.st_mtime > older_than


def _remove(entry: TempEntry) -> bool:
    """Delete a stale temp entry; a parked old folder whose output is missing is put back."""
    try:
        if entry.old:
            target = entry.path.parent / entry.target
            content = entry.path / "content"
            if content.exists() and not target.exists():
                os.replace(content, target)  # the write that parked it never finished
            shutil.rmtree(entry.path)
        elif entry.path.is_dir() and not entry.path.is_symlink():
            shutil.rmtree(entry.path)
        else:
            entry.path.unlink()
    except OSError:
        return False
    return True


def remove_stale_temps(
    folder: str | Path,
    *,
    target: str | None = None,
    dead: Iterable[str] = (),
    older_than: float = STALE_AFTER_SECONDS,
) -> list[Path]:
    """Remove our abandoned temp entries in `folder` (not recursive); returns what was removed.

    Only names made by this module and owned by the current user are considered; of those, the
    ones whose maker is dead (a pid of this host that no longer runs, or an owner tag in `dead`)
    or that were last modified more than `older_than` seconds ago. `target`: only entries for
    that output name. A live writer's temp is never touched.
    """
    folder = Path(folder)
    dead_tags = frozenset(dead)
    now = time.time()
    removed: list[Path] = []
    try:
        names = [entry.name for entry in os.scandir(folder) if is_temp_name(entry.name)]
    except OSError:
        return removed
    for name in sorted(names):
        entry = parse_temp_name(folder / name)
        if entry is None or (target is not None and entry.target != target):
            continue
        if _is_stale(entry, dead_tags, older_than, now) and _remove(entry):
            removed.append(entry.path)
    return removed


class TempSweeper:
    """Removes the abandoned temp entries of many outputs, listing each folder only once.

    `abandoned_unless_live`: the caller holds the output folder's batch lock, so no other batch
    writes there and every temp entry named after one of its outputs is abandoned unless its
    maker is a live process of this host. Otherwise the rules of `remove_stale_temps` apply.
    """

    def __init__(self, *, abandoned_unless_live: bool = False) -> None:
        self.abandoned_unless_live = abandoned_unless_live
        self.removed: list[Path] = []
        self._folder: Path | None = None
        self._entries: dict[str, list[TempEntry]] = {}

    def sweep(self, output: str | Path) -> list[Path]:
        """Remove abandoned temp entries for `output`; returns what was removed."""
        output = Path(output)
        if output.parent != self._folder:
            self._folder = output.parent
            self._entries = {}
            try:
                names = [e.name for e in os.scandir(output.parent) if is_temp_name(e.name)]
            except OSError:
                names = []
            for name in sorted(names):
                entry = parse_temp_name(output.parent / name)
                if entry is not None:
                    self._entries.setdefault(entry.target, []).append(entry)
        older_than = float("-inf") if self.abandoned_unless_live else STALE_AFTER_SECONDS
        removed: list[Path] = []
        now = time.time()
        for entry in self._entries.pop(output.name, []):
            if _is_stale(entry, frozenset(), older_than, now) and _remove(entry):
                removed.append(entry.path)
        self.removed.extend(removed)
        return removed


def _maker_alive_here(entry: TempEntry) -> bool:
    """True when the entry's maker is a process of this host that still runs."""
    if entry.tag is None:
        return False
    pid_text, _, host = entry.tag.partition("-")
    return host == host_tag() and pid_alive(int(pid_text))
