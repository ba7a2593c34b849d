"""Who owns a file we left behind: a process identity that can be checked for liveness later.

Lock files and temp files name the process that made them, so a later run can tell a live
owner from a dead one (killed with `kill -9`, or a crashed machine) and clean up only what is
really abandoned. A process is identified by its host, pid and start time: the start time guards
against a pid reused by an unrelated process. Liveness can only be checked on the same host;
for another host the answer is "unknown".
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
from dataclasses import dataclass


def host_name() -> str:
    """This machine's host name (as `socket.gethostname()`)."""
    return socket.gethostname()


def host_tag(host: str | None = None) -> str:
    """8 hex digits identifying a host in file names (a hash of its name)."""
    name = host_name() if host is None else host
    return hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]


def boot_id() -> str | None:
    """This boot's id (Linux), so pids from before a reboot are never taken as live; else None."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """Start time of process `pid` in clock ticks since boot (Linux /proc), None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # Field 2 (the command) is in parentheses and may contain spaces: split after its end.
    fields = text[text.rfind(")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 of the whole line: starttime
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists on this host (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class ProcessIdentity:
    """A process: host name, pid, boot id and start time (ticks since boot; None if unknown)."""

    host: str
    pid: int
    boot: str | None = None
    started: int | None = None

    @classmethod
    def current(cls) -> ProcessIdentity:
        """This process."""
        pid = os.getpid()
        return cls(host_name(), pid, boot_id(), process_start(pid))

    def to_json(self) -> dict[str, object]:
        """JSON-able fields (the inverse of `from_json`)."""
        return {"host": self.host, "pid": self.pid, "boot": self.boot, "started": self.started}

    @classmethod
    def from_json(cls, data: object) -> ProcessIdentity | None:
        """Parse `to_json` output; None for anything malformed."""
        if not isinstance(data, dict):
            return None
        host, pid = data.get("host"), data.get("pid")
        boot, started = data.get("boot"), data.get("started")
        if not isinstance(host, str) or not isinstance(pid, int) or isinstance(pid, bool):
            return None
        return cls(
            host,
            pid,
            boot if isinstance(boot, str) else None,
            started if isinstance(started, int) and not isinstance(started, bool) else None,
        )

    def is_alive(self) -> bool | None:
        """True: still running; False: gone (dead, or its pid now belongs to another process, or
        the machine rebooted since); None: it ran on another host, so this cannot tell."""
        if self.host != host_name():
            return None
        current_boot = boot_id()
        if self.boot is not None and current_boot is not None and self.boot != current_boot:
            return False
        if not pid_alive(self.pid):
            return False
        if self.started is not None:
            started = process_start(self.pid)
            if started is not None and started != self.started:
                return False
        return True

    def describe(self) -> str:
        """ "pid 123 on host NAME" for messages."""
        return f"pid {self.pid} on host {self.host}"


def owner_tag() -> str:
    """ "PID-HOSTTAG" for this process, embedded in temp file names (see decomposer.atomic)."""
    return f"{os.getpid()}-{host_tag()}"


def tag_is_dead(tag: str) -> bool:
    """True when an `owner_tag()` names a process of this host that no longer exists; False
    when it is alive, from another host, or not a tag at all."""
    pid_text, _, host = tag.partition("-")
    if host != host_tag() or not pid_text.isascii() or not pid_text.isdigit():
        return False
    with contextlib.suppress(ValueError):
        return not pid_alive(int(pid_text))
    return False
