"""Process identities: liveness on this host, pid reuse, other hosts, temp-name owner tags."""

from __future__ import annotations

import os
import subprocess
import sys

from decomposer.processes import (
    ProcessIdentity,
    host_name,
    host_tag,
    owner_tag,
    pid_alive,
    process_start,
    tag_is_dead,
)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_is_alive_and_round_trips_through_json() -> None:
    me = ProcessIdentity.current()
    assert me.pid == os.getpid() and me.host == host_name()
    assert me.is_alive() is True
    assert ProcessIdentity.from_json(me.to_json()) == me
    assert ProcessIdentity.from_json({"host": "h", "pid": "12"}) is None
    assert ProcessIdentity.from_json(["not", "a", "dict"]) is None


def test_dead_reused_and_foreign_processes() -> None:
    pid = dead_pid()
    assert not pid_alive(pid)
    assert ProcessIdentity(host_name(), pid).is_alive() is False
    me = ProcessIdentity.current()
    if me.started is not None:  # Linux: a pid now used by another process is not the holder
        reused = ProcessIdentity(me.host, me.pid, me.boot, me.started + 1)
        assert reused.is_alive() is False
        assert process_start(os.getpid()) == me.started
    if me.boot is not None:  # a pid from before a reboot is gone whatever runs under it now
        assert ProcessIdentity(me.host, me.pid, "another-boot", me.started).is_alive() is False
    assert ProcessIdentity("some-other-host.example", os.getpid()).is_alive() is None


def test_owner_tags_name_pid_and_host() -> None:
    tag = owner_tag()
    assert tag == f"{os.getpid()}-{host_tag()}" and len(host_tag()) == 8
    assert not tag_is_dead(tag)
    assert tag_is_dead(f"{dead_pid()}-{host_tag()}")
    assert not tag_is_dead(f"{dead_pid()}-{host_tag('elsewhere')}")  # cannot tell: not dead
    assert not tag_is_dead("garbage")
