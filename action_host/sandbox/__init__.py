"""The host's side of the sandbox: confine a process before any action code runs.

Two steps, so that everything expensive happens once per template, not per action:

* ``prepare(spec)`` (once, in the template; in a spawned host before it forks):
  the template becomes non-dumpable, joins the egress cgroup, builds its
  *view* (own mount namespace: the system read-only, state dir, homes, /run
  and /tmp hidden, the environment's own directories shown again read-only),
  assembles the seccomp program and creates the Landlock ruleset;
* ``fork(prepared)`` forks the child into a fresh pid namespace (the template
  unshares the namespace for its next child and returns to its own, so there
  is no extra fork), and ``enter(prepared, spec, workdir)`` in the child
  finishes the cheap per-action part: own mount/ipc/uts (and, for ``none``,
  network) namespaces, a private size-limited tmpfs /tmp holding the working
  directory, a private /proc, the process limit, the unprivileged uid,
  no_new_privs, Landlock, and seccomp last (it forbids the calls made above).

A spare child does all this before it waits for its request, so the request
path does not change. Needs root (or CAP_SYS_ADMIN); the executor checks what
is available (``action-executor sandbox check``) and only asks for that.
"""

from __future__ import annotations

import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys
from dataclasses import dataclass, field
from typing import NoReturn

from . import _sys
from .landlock import Ruleset
from .seccomp import Filter
from .spec import Spec

#: Hidden behind an empty read-only tmpfs (what exists of them): homes, the
#: host's sockets and runtime state, shared temporary directories, logs, mail.
HIDDEN = (
    "/root",
    "/home",
    "/run",
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/var/log",
    "/var/mail",
    "/var/spool",
)
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
    #: environment directories under /tmp: shown again in each child's /tmp
    tmp_exposed: list[str] = field(default_factory=list)


def environment_paths(hidden: list[str]) -> list[str]:
    """The directories this interpreter reads its code from (shown read-only).

    Not the current directory (``-m`` puts it on sys.path: the template's is
    the executor's work directory), nor anything that contains a hidden one.
    """
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    cwd = os.getcwd()
    paths.update(p for p in sys.path if p and os.path.realpath(p) != cwd)
    paths.update(_package_dirs())
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    real = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    real = [p for p in real if not any(_under(h, p) for h in hidden)]
    kept: list[str] = []
    for path in real:  # drop paths inside another kept one
        if not any(_under(path, k) for k in kept):
            kept.append(path)
    return kept


def _package_dirs() -> set[str]:
    """Code found other than through ``sys.path``: an editable install's
    package folders (setuptools' ``__editable__`` finders map names to source
    folders, say a checkout under /tmp) and the folders of packages already
    imported. Without them a lazy import in the sandbox would not find them."""
    found: set[str] = set()
    for name, module in list(sys.modules.items()):
        if name.startswith("__editable__") and isinstance(getattr(module, "MAPPING", None), dict):
            found.update(str(p) for p in module.MAPPING.values())
        elif "." not in name:
            paths = getattr(module, "__path__", None)  # a package: its folder(s)
            if paths is not None:
                found.update(str(p) for p in paths if isinstance(p, str))
    return {p for p in found if os.path.isdir(p)}


def environment_aliases(hidden: list[str]) -> dict[str, str]:
    """Paths this interpreter names through a symlink inside a hidden directory
    (a managed environment is ``<state>/envs/NAME`` -> ``.versions/NAME-<id>``):
    alias -> real path. Each alias is bound again, read-only, so ``sys.path``
    keeps working once the state directory is hidden."""
    names = {sys.prefix, sys.exec_prefix, *(p for p in sys.path if p)}
    aliases = {}
    for name in names:
        name = os.path.abspath(name)
        real = os.path.realpath(name)
        if real != name and os.path.exists(real) and any(_under(name, h) for h in hidden):
            aliases[name] = real
    # the shortest alias covers the longer ones under it (the environment's root)
    kept: dict[str, str] = {}
    for name in sorted(aliases, key=len):
        if not any(_under(name, k) for k in kept):
            kept[name] = aliases[name]
    return kept


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def prepare(spec: Spec) -> Prepared:
    """Once per template (see the module docstring). Raises ``SandboxError``."""
    spec = spec.template_part()
    prepared = Prepared(spec)
    try:
        _sys.prctl(_sys.PR_SET_DUMPABLE, 0)
        if spec.network == "egress" and spec.egress_cgroup:
            with open(os.path.join(spec.egress_cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        if spec.private_filesystem:
            prepared.tmp_exposed = _build_view(spec)
        if spec.pid_namespace:
            prepared.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if spec.landlock:
            prepared.ruleset = Ruleset.build()
        if spec.seccomp:
            prepared.seccomp = Filter.build()
    except OSError as exc:
        raise SandboxError(f"cannot prepare the sandbox: {exc}") from exc
    return prepared


def _build_view(spec: Spec) -> list[str]:
    """This process's own mount namespace: what every child starts from."""
    hidden: list[str] = []
    for path in sorted({os.path.realpath(p) for p in (*HIDDEN, *spec.hide)}, key=len):
        if os.path.isdir(path) and not any(_under(path, h) for h in hidden):
            hidden.append(path)
    exposed = environment_paths(hidden)
    aliases = environment_aliases(hidden)
    _sys.unshare(_sys.CLONE_NEWNS)
    _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)
    # opened in the new namespace: a bind's source must be a mount of the caller's
    sources = {p: os.open(p, os.O_PATH | os.O_CLOEXEC) for p in exposed}
    for path in hidden:
        _sys.mount("tmpfs", path, "tmpfs", _sys.MS_NOSUID | _sys.MS_NODEV, "mode=0755,size=64k")
    for path, fd in sources.items():
        if any(_under(path, h) for h in hidden):
            _bind(fd, path)
    for alias, real in aliases.items():
        fd = os.open(real, os.O_PATH | os.O_CLOEXEC)
        try:
            _bind(fd, alias)
        finally:
            os.close(fd)
    _sys.mount_setattr("/", True, _sys.MOUNT_ATTR_RDONLY | _sys.MOUNT_ATTR_NOSUID)
    for fd in sources.values():
        os.close(fd)
    return [p for p in (*sources, *aliases) if _under(p, "/tmp")]


def _bind(fd: int, path: str) -> None:
    """Bind the file or directory open as ``fd`` (O_PATH) onto ``path``, creating it."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass
    _sys.mount(f"/proc/self/fd/{fd}", path, None, _sys.MS_BIND | _sys.MS_REC)


def fork(prepared: Prepared | None) -> int:
    """``os.fork()``, the child as pid 1 of a new pid namespace when asked."""
    if prepared is None or prepared.pidns_fd is None:
        return os.fork()
    _sys.unshare(_sys.CLONE_NEWPID)  # applies to our next child only
    try:
        return os.fork()
    finally:
        if os.getpid() != 1:  # parent: our next children are ours again
            _sys.setns(prepared.pidns_fd, _sys.CLONE_NEWPID)


def enter(prepared: Prepared, spec: Spec, workdir: str | None = None) -> str:
    """In the child, before any action code: apply the per-action part.

    Returns the working directory (already entered). Raises on any failure;
    the caller exits then, so a half-sandboxed child never serves.
    """
    if spec.template_part() != prepared.spec:
        raise SandboxError("the sandbox of this child differs from its template's")
    uid = spec.uid
    flags = _sys.CLONE_NEWIPC | _sys.CLONE_NEWUTS
    if spec.network == "none":
        flags |= _sys.CLONE_NEWNET
    if spec.private_filesystem or spec.pid_namespace:
        flags |= _sys.CLONE_NEWNS
    _sys.unshare(flags)
    if spec.private_filesystem:
        owner = f",uid={uid},gid={uid}" if uid is not None else ""
        # the environment's directories under /tmp, before the new /tmp covers them
        sources = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in prepared.tmp_exposed]
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
        os.mkdir(WORKDIR, 0o700)
        if uid is not None:
            os.chown(WORKDIR, uid, uid)
        workdir = WORKDIR
    elif spec.pid_namespace:
        _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)
    if spec.pid_namespace:
        _sys.mount("proc", "/proc", "proc", _sys.MS_NOSUID | _sys.MS_NODEV | _sys.MS_NOEXEC)
    if spec.network == "none":
        _loopback_up()
    if prepared.pidns_fd is not None:
        os.close(prepared.pidns_fd)
    if spec.max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (spec.max_processes, spec.max_processes))
    if uid is not None:
        _sys.setgroups_empty()
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        # the action may inspect itself (/proc/self); others cannot see it
        _sys.prctl(_sys.PR_SET_DUMPABLE, 1)
    _sys.prctl(_sys.PR_SET_NO_NEW_PRIVS, 1)
    if prepared.ruleset is not None:
        prepared.ruleset.restrict_self()
    if workdir is not None:
        os.chdir(workdir)
    if prepared.seccomp is not None:
        prepared.seccomp.load()
    return workdir or os.getcwd()


def _loopback_up() -> None:
    """Bring up ``lo`` in a new network namespace: the action's private loopback."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, ifreq))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


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
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def spawned_host(channel_fd: int, spec_json: str) -> None:
    """``action-host --serve --sandbox``: prepare, then fork the sandboxed host.

    Returns in the child only (pid 1 of its namespace, ready to serve); this
    process stays outside as its supervisor and ends as the child ends.
    """
    spec = Spec.from_wire(json.loads(spec_json))
    prepared = prepare(spec)
    pid = fork(prepared)
    if pid:
        os.close(channel_fd)
        supervise(pid)
    die_with_parent()
    enter(prepared, spec, workdir=os.getcwd())


__all__ = [
    "Prepared",
    "SandboxError",
    "Spec",
    "enter",
    "fork",
    "prepare",
    "spawned_host",
    "supervise",
]
