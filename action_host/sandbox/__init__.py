"""The host's side of the sandbox: confine each child before any action code runs.

Three stages, so that everything expensive happens once per template:

* before the environment's interpreter starts, the launcher
  (``sandbox.launch``, run by the executor) puts the process into its
  cgroups, two nested user namespaces and its own file system view, and
  loads the template's seccomp profile: plugin code imported by the
  template (``--preload``, ``.pth`` files) holds no capability outside that
  user namespace;
* ``prepare(spec)`` (once, in the template or spawned host) opens its pid
  namespace, creates the Landlock ruleset and assembles the children's
  seccomp program;
* ``fork(prepared)`` forks a child into a fresh pid namespace (the template
  unshares the namespace for its next child and returns to its own, so
  there is no extra fork), and ``enter(prepared, child)`` in the child
  finishes the cheap per-action part: its own mount/ipc/uts
  (and, for ``none``, network) namespaces, a private size-limited tmpfs
  /tmp holding the working directory, a private devpts and /proc, its own
  uid of the template's range (or no capability at all), no_new_privs,
  Landlock, and seccomp last (it forbids the calls made above).

A spare child does all this before it waits for its request, so the request
path does not change.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import socket
import struct
from dataclasses import dataclass
from typing import NoReturn

from . import _sys
from .landlock import Ruleset
from .seccomp import Filter
from .spec import Spec

#: The working directory inside the private /tmp.
WORKDIR = "/tmp/work"


class SandboxError(RuntimeError):
    """A mechanism the executor asked for could not be applied."""


@dataclass
class Prepared:
    spec: Spec
    pidns_fd: int | None = None
    seccomp: Filter | None = None
    ruleset: Ruleset | None = None

    def check_uid(self, uid: int | None) -> None:
        """A child's uid must be one of the template's range (not 0, the template's)."""
        if self.spec.uids > 1 and (uid is None or not 0 < uid < self.spec.uids):
            raise SandboxError(f"child uid {uid!r} is not in 1..{self.spec.uids - 1}")
        if self.spec.uids <= 1 and uid is not None:
            raise SandboxError("this template has no ids for its children: uid must be null")


def prepare(spec: Spec) -> Prepared:
    """Once per template (see the module docstring). Raises ``SandboxError``."""
    prepared = Prepared(spec)
    try:
        if spec.pid_namespace:
            prepared.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if spec.landlock:
            prepared.ruleset = Ruleset.build()
        if spec.seccomp:
            prepared.seccomp = Filter.build("action", no_servers=spec.network == "egress")
    except OSError as exc:
        raise SandboxError(f"cannot prepare the sandbox: {exc}") from exc
    return prepared


def fork(prepared: Prepared | None, last: bool = False) -> int:
    """``os.fork()``, the child as pid 1 of a new pid namespace when asked.

    A template returns to its own pid namespace after each fork, which takes
    capabilities over it: templates are pid 1 of one of their own (see
    ``launch``). ``last``: no fork follows (a spawned host), so no return.
    """
    if prepared is None or prepared.pidns_fd is None:
        return os.fork()
    _sys.unshare(_sys.CLONE_NEWPID)  # applies to our next child only
    pid = os.fork()
    if pid and not last:  # parent: our next children are ours again
        _sys.setns(prepared.pidns_fd, _sys.CLONE_NEWPID)
    return pid


def enter(prepared: Prepared, uid: int | None, workdir: str | None) -> str:
    """In the child, before any action code: apply the per-action part.

    Returns the working directory (already entered). Raises on any failure;
    the caller exits then, so a half-sandboxed child never serves.
    """
    spec = prepared.spec
    flags = 0
    if spec.isolated:
        flags |= _sys.CLONE_NEWIPC | _sys.CLONE_NEWUTS
    if spec.network == "none":
        flags |= _sys.CLONE_NEWNET
    if spec.private_filesystem or spec.pid_namespace:
        flags |= _sys.CLONE_NEWNS
    if flags:
        _sys.unshare(flags)
    if spec.private_filesystem:
        workdir = _private_tmp(spec, uid)
    elif spec.pid_namespace:
        _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)
    if spec.pid_namespace:
        _sys.mount(
            "proc",
            "/proc",
            "proc",
            _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC,
        )
    if spec.network == "none":
        _loopback_up()
    if prepared.pidns_fd is not None:
        os.close(prepared.pidns_fd)
    if spec.isolated:
        _become(uid, spec.max_processes, spec.uids > 1)
    _sys.prctl(_sys.PR_SET_NO_NEW_PRIVS, 1)
    if prepared.ruleset is not None:
        prepared.ruleset.restrict_self()
    if workdir is not None:
        os.chdir(workdir)
    if prepared.seccomp is not None:
        prepared.seccomp.load()
    return workdir or os.getcwd()


def _private_tmp(spec: Spec, uid: int | None) -> str:
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    # the environment's directories under /tmp, before the new /tmp covers them
    sources = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in spec.tmp_exposed]
    _sys.mount(
        "tmpfs",
        "/tmp",
        "tmpfs",
        _sys.MS_NOSUID | _sys.MS_NODEV,
        f"mode=0755,size={spec.tmpfs_size}{owner}",
    )
    for path, fd in sources:
        _bind(fd, path)
        os.close(fd)
        _sys.mount_setattr(path, True, _sys.MOUNT_ATTR_RDONLY | _sys.MOUNT_ATTR_NOSUID)
    os.mkdir("/tmp/.shm", 0o1777)
    os.chmod("/tmp/.shm", 0o1777)
    _sys.mount("/tmp/.shm", "/dev/shm", None, _sys.MS_BIND)
    if spec.devpts:
        # its own terminals: no other action's or the host's /dev/pts/N
        _sys.mount(
            "devpts",
            "/dev/pts",
            "devpts",
            _sys.MS_NOSUID | _sys.MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620",
        )
        _sys.mount("/dev/pts/ptmx", "/dev/ptmx", None, _sys.MS_BIND)
    os.mkdir(WORKDIR, 0o700)
    if uid is not None:
        os.chown(WORKDIR, uid, uid)
    return WORKDIR


def _bind(fd: int, path: str) -> None:
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass
    _sys.mount(f"/proc/self/fd/{fd}", path, None, _sys.MS_BIND | _sys.MS_REC)


def _become(uid: int | None, max_processes: int | None, own_uid: bool) -> None:
    """The action's identity: its own uid of the range (no capability then),
    or, with a one-id range, uid 0 of the namespace stripped of every capability."""
    if uid is not None:
        if max_processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        if own_uid:
            try:
                _sys.setgroups_empty()
            except OSError:  # setgroups denied in this namespace: no groups to drop
                pass
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        # the action may inspect itself (/proc/self); others cannot see it
        _sys.prctl(_sys.PR_SET_DUMPABLE, 1)
    else:
        _sys.drop_capabilities()


def _loopback_up() -> None:
    """Bring up ``lo`` in a new network namespace: the action's private loopback."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, ifreq))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def not_dumpable() -> None:
    """Nobody but root reads this process's memory or /proc files."""
    _sys.prctl(_sys.PR_SET_DUMPABLE, 0)


def die_with_parent() -> None:
    """SIGKILL when the parent (template or spawned host) dies. In a new pid
    namespace the parent is invisible (getppid() is 0), so no pid check."""
    _sys.prctl(_sys.PR_SET_PDEATHSIG, int(signal.SIGKILL))


def supervise(pid: int) -> NoReturn:
    """Spawn mode: wait for the sandboxed child and end the same way it did."""
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


def spawned_host(channel_fd: int | None, spec_json: str) -> None:
    """``action-host --serve --sandbox`` (and ``--inspect --sandbox``): prepare,
    then fork the sandboxed host.

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
    die_with_parent()
    enter(prepared, uid, workdir=os.getcwd())


__all__ = [
    "Prepared",
    "SandboxError",
    "Spec",
    "enter",
    "fork",
    "not_dumpable",
    "prepare",
    "spawned_host",
    "supervise",
]
