"""A child's entry into its sandbox, as ordered named steps (as nsjail's
``contain`` is): each is one function, timed, and one that fails names
itself in the error.

The order matters: namespaces first, since every mount below happens in
the child's own; the identity after the mounts (an unprivileged uid could
mount nothing); no_new_privs before Landlock, which needs it; the working
directory entered before seccomp, and seccomp last, since it refuses the
calls the steps before it make.
"""

from __future__ import annotations

import fcntl
import os
import resource
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import _sys
from .prepared import Prepared, SandboxError
from .private_tmp import mount_private_tmp

#: What this process's ``enter`` cost, in seconds per step, in order (a
#: process enters once). An action may read it: the benchmark's does.
ENTERED: dict[str, float] = {}


@dataclass
class Child:
    """What the steps share: the template's preparation, this child's uid,
    and its working directory (a private /tmp replaces it)."""

    prepared: Prepared
    uid: int | None
    workdir: str | None


def namespaces(child: Child) -> None:
    """Its own mount, ipc and uts namespaces (and network, for ``none``)."""
    spec = child.prepared.spec
    flags = 0
    if spec.isolated:
        flags |= _sys.CLONE_NEWIPC | _sys.CLONE_NEWUTS
    if spec.network == "none":
        flags |= _sys.CLONE_NEWNET
    if spec.private_filesystem or spec.pid_namespace:
        flags |= _sys.CLONE_NEWNS
    if flags:
        _sys.unshare(flags)


def private_tmp(child: Child) -> None:
    """A private /tmp holding the working directory; without one, the mounts
    made private still, so the /proc below stays this child's."""
    spec = child.prepared.spec
    if spec.private_filesystem:
        child.workdir = mount_private_tmp(spec, child.uid)
    elif spec.pid_namespace:
        _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)


def proc(child: Child) -> None:
    """A /proc of its own pid namespace: it sees its own processes only."""
    if child.prepared.spec.pid_namespace:
        _sys.mount("proc", "/proc", "proc", _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC)


def loopback(child: Child) -> None:
    """``lo`` up in a network namespace of its own: its private loopback."""
    if child.prepared.spec.network != "none":
        return
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, ifreq))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def leave_template_pid_namespace(child: Child) -> None:
    """No way back into the template's pid namespace."""
    if child.prepared.pidns_fd is not None:
        os.close(child.prepared.pidns_fd)


def identity(child: Child) -> None:
    """The action's identity: its own uid of the range (no capability then),
    or, with a one-id range, uid 0 of the namespace stripped of every capability."""
    spec = child.prepared.spec
    if not spec.isolated:
        return
    uid = child.uid
    if uid is None:
        _sys.drop_capabilities()
        return
    if spec.max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (spec.max_processes, spec.max_processes))
    if spec.uids > 1:
        try:
            _sys.setgroups_empty()
        except OSError:  # setgroups denied in this namespace: no groups to drop
            pass
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # the action may inspect itself (/proc/self); others cannot see it
    _sys.prctl(_sys.PR_SET_DUMPABLE, 1)


def no_new_privs(child: Child) -> None:
    """No exec gains privileges (setuid files, file capabilities)."""
    _sys.prctl(_sys.PR_SET_NO_NEW_PRIVS, 1)


def landlock(child: Child) -> None:
    """The file system rules of the template's Landlock ruleset."""
    if child.prepared.ruleset is not None:
        child.prepared.ruleset.restrict_self()


def workdir(child: Child) -> None:
    """Into the working directory, while chdir is still allowed."""
    if child.workdir is not None:
        os.chdir(child.workdir)


def seccomp(child: Child) -> None:
    """The action's system-call filter, last: it refuses the calls above."""
    if child.prepared.seccomp is not None:
        child.prepared.seccomp.load()


STEPS: tuple[Callable[[Child], None], ...] = (
    namespaces,
    private_tmp,
    proc,
    loopback,
    leave_template_pid_namespace,
    identity,
    no_new_privs,
    landlock,
    workdir,
    seccomp,
)


def enter(prepared: Prepared, uid: int | None, workdir: str | None) -> str:
    """In the child, before any action code: the per-action part, step by step.

    Returns the working directory (already entered). Raises ``SandboxError``
    naming the step that failed; the caller exits then, so a half-sandboxed
    child never serves.
    """
    child = Child(prepared, uid, workdir)
    for step in STEPS:
        started = time.perf_counter()
        try:
            step(child)
        except OSError as exc:
            raise SandboxError(f"sandbox step {step.__name__!r} failed: {exc}") from exc
        ENTERED[step.__name__] = time.perf_counter() - started
    return child.workdir or os.getcwd()
