"""Limits per action: a cgroup of its own (memory with its tmpfs and memfd
pages, processes, a CPU share), and what it used, read back for its Result.

``RLIMIT_AS`` counts one process's address space, not an action's memory
(three forked children held 5.4 GiB under a "4 GiB" limit, and V8 reserves
far more address space than it uses), so the kernel's memory controller
counts instead: every page an action's processes touch, its private /tmp
(tmpfs) and memfd pages included.

Layout, per hierarchy (cgroup v2, or the v1 controller mounts of a hybrid
system), under the executor's own cgroup (with systemd: its unit's,
``Delegate=yes``)::

    <executor's cgroup>/mistral-action-host.<pid>/
        u-<n>/               one per template or spawned host ("unit")
            host/            the template itself (the launcher joins it)
            a-<k>/           one per action; reused once empty

The executor moves each forked child into a free ``a-<k>`` before it sends
the child any request, so the template needs no right over cgroups at all.
Moving another user's process needs cgroup v2 (write access suffices) or,
on v1, an effective uid of 0 when the file is opened: a service user with
CAP_SETUID has its ``cgroup.procs`` files opened by a small helper
(``_ProcsOpener``: euid 0, its own uid for file access, nothing else). A
spawned host (and ``--inspect``) is its own action: its ``host`` directory
carries the action's limits.

v2 only: ``memory.oom.group`` makes an out-of-memory kill take the whole
action; on v1 the executor ends the action itself when it sees one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from executor.errors import ErrorKind, ExecutorError

log = logging.getLogger(__name__)

CONTROLLERS = ("memory", "pids", "cpu")
PREFIX = "mistral-action-host."


class CgroupUnavailable(ExecutorError, OSError):
    """Cgroups cannot give the limits asked for here; says why and what to do."""

    kind = ErrorKind.HOST_START_FAILED


@dataclass(frozen=True)
class Limits:
    """One action's limits; None: not limited."""

    memory: int | None = None
    processes: int | None = None
    #: cgroup v2 ``cpu.weight`` (1..10000, 100 is the default); v1 cpu.shares scaled.
    cpu_weight: int | None = None
    #: CPUs the action may use at most (``cpu.max``), e.g. 1.0
    cpu_max: float | None = None

    def controllers(self) -> set[str]:
        wanted = set()
        if self.memory is not None:
            wanted.add("memory")
        if self.processes is not None:
            wanted.add("pids")
        if self.cpu_weight is not None or self.cpu_max is not None:
            wanted.add("cpu")
        return wanted


@dataclass(frozen=True)
class Usage:
    """What an action used: peak memory (bytes), CPU time (seconds), and how
    many of its processes the kernel killed for exceeding its memory."""

    peak_memory: int | None = None
    cpu_seconds: float | None = None
    oom_kills: int = 0


@dataclass(frozen=True)
class Hierarchy:
    mount: str
    version: int
    #: the controllers used in this hierarchy (v2: also cpu.stat, always there)
    controllers: frozenset[str]
    #: this process's own cgroup in it
    own: str

    @property
    def own_dir(self) -> str:
        return os.path.join(self.mount, self.own.lstrip("/"))


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, "cgroup"|"cgroup2", v1 controllers) from mountinfo."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _source, options = (right.split() + ["", "", ""])[:3]
                if fstype in ("cgroup", "cgroup2"):
                    found.append((left.split()[4], fstype, set(options.split(","))))
    except OSError:
        pass
    return found


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    paths = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _id, names, path = line.rstrip("\n").split(":", 2)
                for name in names.split(",") if names else [""]:
                    paths[name] = path
    except OSError:
        pass
    return paths


def hierarchies(wanted: set[str]) -> list[Hierarchy]:
    """The hierarchies that give ``wanted`` controllers here, v2 first (it also
    holds the egress hooks and CPU time); a controller v2 does not have comes
    from its v1 mount."""
    own = _own_paths()
    found: list[Hierarchy] = []
    v2_mount = next((m for m, t, _ in _mounts() if t == "cgroup2"), None)
    have: set[str] = set()
    if v2_mount is not None and "" in own:
        own_dir = os.path.join(v2_mount, own[""].lstrip("/"))
        available = _read(os.path.join(own_dir, "cgroup.controllers")).split()
        have = {c for c in CONTROLLERS if c in available}
        found.append(Hierarchy(v2_mount, 2, frozenset(have & wanted), own[""]))
    for mount, fstype, options in _mounts():
        if fstype != "cgroup":
            continue
        for controller in sorted(wanted - have):
            if controller in options and controller in own:
                found.append(Hierarchy(mount, 1, frozenset({controller}), own[controller]))
                have.add(controller)
    if "cpu" in wanted:  # v1 CPU time comes from cpuacct, often a mount of its own
        if not any(h.version == 2 for h in found):
            for mount, fstype, options in _mounts():
                if fstype == "cgroup" and "cpuacct" in options and "cpuacct" in own:
                    if not any(h.mount == mount for h in found):
                        found.append(Hierarchy(mount, 1, frozenset(), own["cpuacct"]))
    return found


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Tree:
    """This executor's cgroups: created by ``create``, removed by ``remove``."""

    def __init__(self, hierarchies: list[Hierarchy], name: str) -> None:
        self.hierarchies = hierarchies
        self.name = name
        self._units = 0
        self._lock = threading.Lock()
        self._opener: _ProcsOpener | None = None

    def has(self, controller: str) -> bool:
        return any(controller in h.controllers for h in self.hierarchies)

    def procs_writer(self, h: Hierarchy, directory: str) -> int | None:
        """A descriptor to write pids into ``directory``'s ``cgroup.procs`` with,
        where this process may not (v1, not root); None: write it directly."""
        if h.version != 1 or os.geteuid() == 0 or not h.controllers:
            return None
        with self._lock:
            if self._opener is None:
                self._opener = _ProcsOpener([self.base(x) for x in self.hierarchies])
            opener = self._opener
        return opener.open(os.path.join(directory, "cgroup.procs"))

    @classmethod
    def create(cls, limits: Limits, need_v2: bool = False) -> Tree:
        """Make the executor's directory in every hierarchy ``limits`` need.

        Raises ``CgroupUnavailable`` naming what is missing and how to get it.
        """
        wanted = limits.controllers()
        found = hierarchies(wanted)
        missing = wanted - {c for h in found for c in h.controllers}
        if missing:
            raise CgroupUnavailable(
                95,
                f"no cgroup hierarchy here gives the {', '.join(sorted(missing))} "
                "controller(s) to this executor",
            )
        if need_v2 and not any(h.version == 2 for h in found):
            raise CgroupUnavailable(95, "no cgroup v2 hierarchy is mounted")
        v1_problem = _v1_problem(found)
        if v1_problem:
            raise CgroupUnavailable(1, v1_problem)
        tree = cls(found, f"{PREFIX}{os.getpid()}")
        sweep(found)
        for h in found:
            _make_leaf_for_self(h)
            base = tree.base(h)
            try:
                os.makedirs(base, exist_ok=True)
            except OSError as exc:
                raise CgroupUnavailable(
                    exc.errno or 13,
                    f"cannot create {base}: {exc.strerror}; run the executor as root, or "
                    "give it a cgroup of its own (systemd: Delegate=yes)",
                ) from None
            _enable(h, base, h.controllers)
        return tree

    def base(self, h: Hierarchy) -> str:
        return os.path.join(h.own_dir, self.name)

    def unit(self, limits: Limits) -> Unit:
        """A new unit (template or spawned host). Its ``host`` directory carries
        ``limits`` too: a spawned host is its own action, and a template runs
        plugin code at import time, bound as an action is."""
        with self._lock:
            self._units += 1
            n = self._units
        unit = Unit(self, f"u-{n}", limits)
        unit.create()
        return unit

    def remove(self) -> None:
        for h in self.hierarchies:
            _remove_tree(self.base(h))
        if self._opener is not None:
            self._opener.close()


def _v1_problem(found: list[Hierarchy]) -> str:
    """Why moving actions into v1 cgroups cannot work for this process, or ""."""
    if os.geteuid() == 0 or not any(h.version == 1 and h.controllers for h in found):
        return ""
    if _has_cap_setuid():
        return ""
    return (
        "cgroup v1 lets only an effective uid of 0 move an action's processes into "
        "their own cgroup: give the executor CAP_SETUID (the systemd unit does), run it "
        "as root, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"
    )


def _has_cap_setuid() -> bool:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 7))
    return False


#: The helper of ``_ProcsOpener``: euid 0 (what cgroup v1 checks), the
#: executor's own uid for file access, and only ``cgroup.procs`` files of the
#: executor's own directories; each opened file goes back over SCM_RIGHTS.
_OPENER = r"""
import array, ctypes, os, socket, sys
tops = [t.rstrip("/") + "/" for t in sys.argv[1:]]
sock = socket.socket(fileno=0)
me = os.getuid()
os.setresuid(me, 0, me)
ctypes.CDLL(None).setfsuid(me)
while True:
    path = sock.recv(4096).decode()
    if not path:
        break
    real = os.path.realpath(path)
    if os.path.basename(real) != "cgroup.procs" or not any(real.startswith(t) for t in tops):
        sock.sendmsg([b"refused: not a cgroup.procs file of the executor's"])
        continue
    try:
        fd = os.open(real, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        sock.sendmsg([f"{exc}".encode()])
        continue
    sock.sendmsg([b"ok"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    os.close(fd)
"""


class _ProcsOpener:
    """Opens ``cgroup.procs`` files for a non-root executor on cgroup v1."""

    def __init__(self, tops: list[str]) -> None:
        import socket
        import subprocess
        import sys

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _OPENER, *tops],
            stdin=theirs.fileno(),
            close_fds=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        theirs.close()

    def open(self, path: str) -> int:
        import array
        import socket

        with self._lock:
            self._sock.sendall(path.encode())
            fds = array.array("i")
            message, ancillary, _flags, _addr = self._sock.recvmsg(4096, socket.CMSG_SPACE(4))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        if message != b"ok" or not fds:
            raise CgroupUnavailable(13, f"cannot open {path}: {message.decode(errors='replace')}")
        return fds[0]

    def close(self) -> None:
        self._sock.close()
        try:
            self._proc.wait(5)
        except Exception:
            self._proc.kill()


def _make_leaf_for_self(h: Hierarchy) -> None:
    """cgroup v2 keeps processes in leaves only: an executor alone in a
    non-root cgroup (systemd's unit, Delegate=yes) moves into ``executor``."""
    if h.version != 2 or h.own in ("/", "") or not h.controllers:
        return
    own_dir = h.own_dir
    procs = _read(os.path.join(own_dir, "cgroup.procs")).split()
    if procs and set(procs) != {str(os.getpid())}:
        return  # not ours alone; enabling controllers below will say why
    leaf = os.path.join(own_dir, "executor")
    os.makedirs(leaf, exist_ok=True)
    _write(os.path.join(leaf, "cgroup.procs"), "0")  # our tree stays a sibling of it


def _enable(h: Hierarchy, directory: str, controllers: frozenset[str]) -> None:
    if h.version != 2 or not controllers:
        return
    parent = os.path.normpath(os.path.dirname(directory))
    for d in (parent, directory):
        try:
            _write(
                os.path.join(d, "cgroup.subtree_control"), " ".join(f"+{c}" for c in controllers)
            )
        except OSError as exc:
            raise CgroupUnavailable(
                exc.errno or 16,
                f"cannot enable {', '.join(sorted(controllers))} in {d}: {exc.strerror} "
                "(cgroup v2 needs it to hold no process of its own; with systemd, "
                "Delegate=yes)",
            ) from None


def _remove_tree(path: str) -> None:
    """rmdir bottom-up (cgroup directories cannot be removed with files in them)."""
    if not os.path.isdir(path):
        return
    for root, dirs, _files in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def sweep(found: list[Hierarchy]) -> None:
    """Remove the directories of executors that are no longer running."""
    for h in found:
        try:
            names = os.listdir(h.own_dir)
        except OSError:
            continue
        for name in names:
            if name.startswith(PREFIX) and name[len(PREFIX) :].isdigit():
                pid = int(name[len(PREFIX) :])
                if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                    _remove_tree(os.path.join(h.own_dir, name))


@dataclass
class Slot:
    """One action's cgroup (a directory per hierarchy), reused once empty.

    Its files stay open for its life (each read is one ``pread``): moving a
    child in and reading its usage are on every action's path.
    """

    name: str
    dirs: list[tuple[Hierarchy, str]]
    #: bytes (memory.max), for the message when the action exceeds it
    memory_limit: int | None = None
    #: directory -> a descriptor of its cgroup.procs opened for us (v1, not root)
    writers: dict[str, int] = field(default_factory=dict)
    #: counters when the slot was taken: CPU usec, OOM kills
    start_cpu: int = 0
    start_oom: int = 0
    _fds: dict[str, int] = field(default_factory=dict, repr=False)

    def path(self, controller: str) -> str | None:
        for h, d in self.dirs:
            if controller in h.controllers:
                return d
        return None

    def _fd(self, path: str, flags: int = os.O_RDONLY) -> int:
        fd = self._fds.get(path)
        if fd is None:
            fd = self._fds[path] = os.open(path, flags | os.O_CLOEXEC)
        return fd

    def _pread(self, path: str) -> str:
        try:
            return os.pread(self._fd(path), 4096, 0).decode()
        except OSError:
            return ""

    def add(self, pid: int) -> None:
        """Move ``pid`` (the whole process) in, in every hierarchy."""
        for _h, d in self.dirs:
            fd = self.writers.get(d)
            if fd is None:
                fd = self._fd(os.path.join(d, "cgroup.procs"), os.O_WRONLY)
            os.write(fd, str(pid).encode())

    def begin(self) -> None:
        """Taken for a new action: counters from here, peak from now."""
        self.start_cpu = self._cpu_usec()
        self.start_oom = self._oom_kills()
        memory = self.path("memory")
        if memory is None:
            return
        # v1: max_usage_in_bytes; v2 (Linux 6.12): memory.peak, reset for
        # the descriptor that writes it (which the later reads use)
        name = "memory.max_usage_in_bytes" if self._memory_v1() else "memory.peak"
        try:
            os.pwrite(self._fd(os.path.join(memory, name), os.O_RDWR), b"0", 0)
        except OSError:
            pass

    def _memory_v1(self) -> bool:
        return any(h.version == 1 and "memory" in h.controllers for h, _ in self.dirs)

    def _cpu_usec(self) -> int:
        for h, d in self.dirs:
            if h.version == 2:
                for line in self._pread(os.path.join(d, "cpu.stat")).splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1])
        for h, d in self.dirs:
            text = self._pread(os.path.join(d, "cpuacct.usage")).strip() if h.version == 1 else ""
            if text.isdigit():
                return int(text) // 1000
        return 0

    def _oom_kills(self) -> int:
        memory = self.path("memory")
        if memory is None:
            return 0
        name = "memory.oom_control" if self._memory_v1() else "memory.events"
        for line in self._pread(os.path.join(memory, name)).splitlines():
            if line.startswith("oom_kill "):
                return int(line.split()[1])
        return 0

    def usage(self) -> Usage:
        memory = self.path("memory")
        peak = None
        if memory is not None:
            name = "memory.max_usage_in_bytes" if self._memory_v1() else "memory.peak"
            path = os.path.join(memory, name)
            text = self._pread(path).strip() if path in self._fds else ""
            peak = int(text) if text.isdigit() else None
        cpu = self._cpu_usec()
        return Usage(
            peak_memory=peak,
            cpu_seconds=max(0, cpu - self.start_cpu) / 1e6 if cpu else None,
            oom_kills=max(0, self._oom_kills() - self.start_oom),
        )

    def empty(self) -> bool:
        return all(not _read(os.path.join(d, "cgroup.procs")).strip() for _h, d in self.dirs)

    def close(self) -> None:
        for fd in (*self._fds.values(), *self.writers.values()):
            os.close(fd)
        self._fds.clear()
        self.writers.clear()


class Unit:
    """The cgroups of one template (or spawned host) and its actions."""

    def __init__(self, tree: Tree, name: str, limits: Limits) -> None:
        self.tree = tree
        self.name = name
        self.limits = limits
        self._free: list[Slot] = []
        #: slots given back while something lingered in them: files closed,
        #: reused (reopened) once empty, so neither directories nor
        #: descriptors pile up over an executor's life
        self._lingering: list[Slot] = []
        self._made = 0
        self._lock = threading.Lock()

    def _dirs(self, sub: str) -> Iterator[tuple[Hierarchy, str]]:
        for h in self.tree.hierarchies:
            yield h, os.path.join(self.tree.base(h), self.name, sub)

    def create(self) -> None:
        for h in self.tree.hierarchies:
            unit = os.path.join(self.tree.base(h), self.name)
            os.makedirs(unit, exist_ok=True)
            _enable(h, unit, h.controllers)
        for h, d in self._dirs("host"):
            os.makedirs(d, exist_ok=True)
            _apply(h, d, self.limits)

    def host_dirs(self) -> list[str]:
        """Where the launched process itself goes (``LaunchPlan.cgroup_join``)."""
        return [d for _h, d in self._dirs("host")]

    def host_slot(self) -> Slot:
        """The ``host`` directory as a slot (a spawned host is its own action)."""
        slot = Slot("host", list(self._dirs("host")), self.limits.memory)
        slot.begin()
        return slot

    def egress_dir(self) -> str | None:
        """The unit's cgroup v2 directory (where the egress hooks attach)."""
        for h in self.tree.hierarchies:
            if h.version == 2:
                return os.path.join(self.tree.base(h), self.name)
        return None

    def take(self) -> Slot:
        """A free action slot (a new one when none is free), counters begun."""
        with self._lock:
            slot = self._free.pop() if self._free else self._settled()
            if slot is None:
                self._made += 1
                name = f"a-{self._made}"
        if slot is None:
            slot = Slot(name, list(self._dirs(name)), self.limits.memory)
            for h, d in slot.dirs:
                os.makedirs(d, exist_ok=True)
                _apply(h, d, self.limits)
        if not slot.writers:
            for h, d in slot.dirs:
                writer = self.tree.procs_writer(h, d)
                if writer is not None:
                    slot.writers[d] = writer
        slot.begin()
        return slot

    def _settled(self) -> Slot | None:
        """A lingering slot that has emptied since (caller holds the lock)."""
        for i, slot in enumerate(self._lingering):
            if slot.empty():
                return self._lingering.pop(i)
        return None

    def give_back(self, slot: Slot) -> None:
        """The action's processes are gone: the slot serves the next one."""
        if slot.name == "host":
            slot.close()
            return
        if not slot.empty():  # something lingers: not for the next action yet
            log.debug(
                "cgroup %s of %s still holds processes; reused once empty", slot.name, self.name
            )
            slot.close()
            with self._lock:
                self._lingering.append(slot)
            return
        with self._lock:
            self._free.append(slot)

    def rest(self) -> None:
        """A quiet moment: idle slots let go of their files (reopened when
        taken), so an idle executor holds none."""
        with self._lock:
            lingering, self._lingering = self._lingering, []
            for slot in lingering:
                (self._free if slot.empty() else self._lingering).append(slot)
            for slot in self._free:
                slot.close()

    def remove(self) -> None:
        with self._lock:
            free, self._free, self._lingering = self._free, [], []
        for slot in free:
            slot.close()
        for h in self.tree.hierarchies:
            _remove_tree(os.path.join(self.tree.base(h), self.name))


def _apply(h: Hierarchy, directory: str, limits: Limits) -> None:
    """Write ``limits`` into one directory of ``h`` (its controllers only)."""
    files: list[tuple[str, str]] = []
    if "memory" in h.controllers and limits.memory is not None:
        if h.version == 2:
            files += [("memory.max", str(limits.memory)), ("memory.swap.max", "0")]
            files += [("memory.oom.group", "1")]
        else:
            files += [("memory.limit_in_bytes", str(limits.memory))]
    if "pids" in h.controllers and limits.processes is not None:
        files.append(("pids.max", str(limits.processes)))
    if "cpu" in h.controllers:
        if limits.cpu_weight is not None:
            if h.version == 2:
                files.append(("cpu.weight", str(limits.cpu_weight)))
            else:
                files.append(("cpu.shares", str(max(2, limits.cpu_weight * 1024 // 100))))
        if limits.cpu_max is not None:
            period = 100000
            quota = max(1000, int(limits.cpu_max * period))
            if h.version == 2:
                files.append(("cpu.max", f"{quota} {period}"))
            else:
                files += [("cpu.cfs_period_us", str(period)), ("cpu.cfs_quota_us", str(quota))]
    for name, value in files:
        path = os.path.join(directory, name)
        try:
            _write(path, value)
        except FileNotFoundError:
            if name in ("memory.swap.max", "memory.oom.group"):
                continue  # no swap accounting / an older kernel: the rest still holds
            raise


def available(limits: Limits) -> tuple[bool, str]:
    """Whether ``Tree.create(limits)`` would work here, without creating anything."""
    wanted = limits.controllers()
    if not wanted:
        return True, "no limit asked for"
    found = hierarchies(wanted)
    missing = wanted - {c for h in found for c in h.controllers}
    if missing:
        return False, f"no cgroup hierarchy gives {', '.join(sorted(missing))} here"
    v1_problem = _v1_problem(found)
    if v1_problem:
        return False, v1_problem
    for h in found:
        if not os.access(h.own_dir, os.W_OK):
            return False, (
                f"{h.own_dir} is not writable by this user; run as root, or give the "
                "executor a cgroup of its own (systemd: Delegate=yes)"
            )
    kinds = ", ".join(
        f"v{h.version} {'+'.join(sorted(h.controllers)) or 'cpu time'}" for h in found
    )
    return True, f"cgroup {kinds}"


__all__ = [
    "CgroupUnavailable",
    "Hierarchy",
    "Limits",
    "Slot",
    "Tree",
    "Unit",
    "Usage",
    "available",
    "hierarchies",
]
