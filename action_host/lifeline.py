"""Dying with the parent: no host outlives the process that started it.

``PR_SET_PDEATHSIG`` asks the kernel to SIGKILL this process when its parent
dies, which works even when the action holds the GIL in a C loop (a
Python-level watchdog would never run). The parent may already be gone by
the time we ask, so the parent's pid is checked after the request.
"""

from __future__ import annotations

import ctypes
import os
import signal

from protocol.exit_codes import ExitCode

_PR_SET_PDEATHSIG = 1


def die_with_parent(expected_parent: int) -> None:
    """SIGKILL this process when its parent dies; exit now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != expected_parent:  # the parent died before we asked
        os._exit(ExitCode.PARENT_GONE)
