"""A running host process as the executor sees it, and how its end is described.

Whatever launched it (a fresh interpreter, or a fork of a warm template), a
host is: a pid that leads its own process group, a lifecycle
(``states.HostLifecycle``), the executor's end of the protocol channel, and
the read ends of the pipes its fds 1 and 2 point at.
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Protocol

from executor.hosts.states import HostLifecycle
from protocol.exit_codes import ExitCode


class HostProcess(Protocol):
    pid: int
    lifecycle: HostLifecycle
    channel: socket.socket
    stdout: int
    stderr: int

    def kill(self) -> None:
        """SIGKILL the host's whole process group (the action's children too)."""

    def wait(self, timeout: float) -> int | None:
        """Exit status as Popen.returncode (-N: signal N); None if not known in time."""

    def release(self) -> None:
        """The run is over: close our ends, reap, kill anything the action left behind."""

    def discard(self) -> None:
        """Never used (a spare, a host of a closing executor): kill it and clean up."""


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


_SIGNAL_HINTS = {
    signal.SIGKILL: (
        "killed by SIGKILL (out of memory, a resource limit, or killed by another process)"
    ),
    signal.SIGSEGV: "crashed with SIGSEGV (segmentation fault)",
    signal.SIGABRT: "aborted (SIGABRT)",
    signal.SIGXCPU: "killed by SIGXCPU (CPU time limit reached)",
    signal.SIGXFSZ: "killed by SIGXFSZ (file size limit reached)",
    signal.SIGBUS: "crashed with SIGBUS (bus error)",
}


def describe_returncode(returncode: int | None) -> str:
    if returncode is None:
        return "ended, exit status unknown"
    if returncode >= 0:
        try:
            return f"exited with code {returncode} ({ExitCode(returncode).describe()})"
        except ValueError:
            return f"exited with code {returncode}"
    sig = -returncode
    try:
        member = signal.Signals(sig)
    except ValueError:
        return f"killed by signal {sig}"
    return _SIGNAL_HINTS.get(member, f"killed by signal {member.name}")


def returncode_from_status(status: int) -> int:
    """waitpid status -> Popen-style returncode."""
    return os.waitstatus_to_exitcode(status)


#: ioctl(PIDFD_GET_INFO) with the size of ``struct pidfd_info`` version 0 (64 bytes).
_PIDFD_GET_INFO = 0xC040FF0B
_PIDFD_INFO_EXIT = 1 << 3
_EXIT_CODE_OFFSET = 60  # mask u64, cgroupid u64, eleven u32 ids, then exit_code s32


def exit_status_from_pidfd(pidfd: int) -> int | None:
    """The wait status of an exited process, from a pidfd held since before it
    exited, even when another process reaped it (Linux 6.15+); else None.

    This is how a host whose template died still reports its real exit.
    """
    import fcntl
    import struct

    buf = bytearray(64)
    struct.pack_into("Q", buf, 0, _PIDFD_INFO_EXIT)
    try:
        fcntl.ioctl(pidfd, _PIDFD_GET_INFO, buf, True)
    except OSError:
        return None
    (mask,) = struct.unpack_from("Q", buf, 0)
    if not mask & _PIDFD_INFO_EXIT:
        return None
    (status,) = struct.unpack_from("i", buf, _EXIT_CODE_OFFSET)
    return int(status)
