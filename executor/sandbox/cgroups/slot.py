"""One action's cgroup: moving its processes in and reading what they used."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from executor.sandbox.cgroups.hierarchy import Hierarchy, read_text
from executor.sandbox.cgroups.model import Usage


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
                fd = self._fd(os.path.join(d, "cgroup.procs"), os.O_RDWR)  # read too: empty()
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
        """No process left in it. Read through the slot's open files while it
        has them (every action's path), else opened for the question (a
        lingering slot keeps no descriptor)."""
        read = self._pread if self._fds else read_text
        return all(not read(os.path.join(d, "cgroup.procs")).strip() for _h, d in self.dirs)

    def close(self) -> None:
        for fd in (*self._fds.values(), *self.writers.values()):
            os.close(fd)
        self._fds.clear()
        self.writers.clear()
