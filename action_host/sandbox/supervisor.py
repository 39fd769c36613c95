"""Spawn mode: a host started for one action (``action-host --serve
--sandbox``) forks its sandboxed self and stays outside as its supervisor,
ending the way the sandboxed child ended."""

from __future__ import annotations

import json
import os
import signal
from typing import NoReturn

from ..lifeline import kill_on_parent_death
from .prepared import fork, prepare
from .spec import Spec
from .steps import enter


def spawned_host(channel_fd: int | None, spec_json: str) -> None:
    """Prepare, then fork the sandboxed host.

    Returns in the child only (pid 1 of its namespace, ready to serve); this
    process stays outside as its supervisor and ends as the child ends.
    """
    spec = Spec.from_wire(json.loads(spec_json))
    prepared = prepare(spec)
    uid = 1 if spec.uids > 1 else None  # the host's range: itself, then its one action
    if not spec.pid_namespace and not spec.isolated:  # nothing to hold from outside
        enter(prepared, uid, workdir=os.getcwd())
        return
    pid = fork(prepared, last=True)
    if pid:
        if channel_fd is not None:
            os.close(channel_fd)
        supervise(pid)
    # in a new pid namespace the parent is invisible (getppid() is 0): no pid check
    kill_on_parent_death()
    enter(prepared, uid, workdir=os.getcwd())


def supervise(pid: int) -> NoReturn:
    """Wait for the sandboxed child and end the same way it did."""
    while True:
        try:
            _pid, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two have no handler
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
