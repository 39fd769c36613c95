"""What one action may use and what it used, and the error when cgroups
cannot give it."""

from __future__ import annotations

from dataclasses import dataclass

from executor.errors import ErrorKind, ExecutorError


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
