"""What tests see of processes in /proc, and waits on it.

A test that must let something happen first waits for the state that shows
it (a process gone, a thread asleep in the kernel) with a deadline, never for
a fixed time: a fixed sleep is too short on a loaded machine and too long on
an idle one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], seconds: float, what: str) -> T:
    """``condition()``'s first true value, polled until ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.02)


def live_pids() -> list[int]:
    """Every process of the machine (/proc lists processes, not their threads)."""
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def running(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has ended)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def start_time(pid: int) -> int | None:
    """When the process started (clock ticks since boot): with its pid, its identity."""
    fields = _stat(pid)
    return int(fields[19]) if fields is not None else None


def _per_thread(pid: int, name: str) -> list[str]:
    """/proc/PID/task/TID/NAME of each thread of ``pid``."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return []
    texts = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/{name}") as f:
                texts.append(f.read())
        except FileNotFoundError:
            pass
    return texts


def children_of(pid: int) -> list[int]:
    """The children of every thread of ``pid``."""
    return [int(child) for text in _per_thread(pid, "children") for child in text.split()]


def asleep_in_nanosleep(pid: int) -> bool:
    """A thread of ``pid`` is in ``time.sleep()``: an action that sleeps is
    running (the host and its template never sleep that way themselves)."""
    return any("nanosleep" in wchan for wchan in _per_thread(pid, "wchan"))


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:  # gone, or a kernel thread
        return b""


def environ(pid: int) -> list[bytes]:
    """``NAME=value`` entries of the environment the process started with."""
    return [entry for entry in _read(f"/proc/{pid}/environ").split(b"\0") if entry]


def cmdline(pid: int) -> str:
    return _read(f"/proc/{pid}/cmdline").replace(b"\0", b" ").decode(errors="replace").strip()


def cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def names_any(pid: int, paths: tuple[bytes, ...]) -> bool:
    """One of ``paths`` is in the process's environment, command line or
    working directory (give directories with a trailing ``/``)."""
    texts = [*environ(pid), cmdline(pid).encode(), cwd(pid).encode() + b"/"]
    return any(path in text for text in texts for path in paths)
