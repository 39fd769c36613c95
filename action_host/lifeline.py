"""Dying with the parent: no host outlives the process that started it.

``PR_SET_PDEATHSIG`` asks the kernel to SIGKILL this process when its parent
dies, which works even when the action holds the GIL in a C loop (a
Python-level watchdog would never run). The parent may already be gone by
the time we ask, so the parent's pid is checked after the request. The one
place that asks: hosts, templates, their children and the sandbox's
launcher all come here (stdlib only, cheap to import).
"""

from __future__ import annotations

import ctypes
import os
import signal

from protocol.exit_codes import ExitCode

_PR_SET_PDEATHSIG = 1


def kill_on_parent_death() -> None:
    """SIGKILL this process when its parent dies (no check: in a new pid
    namespace the parent is invisible, ``getppid()`` is 0)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def parent_is_gone(expected_parent: int) -> bool:
    """Whether the parent died before ``kill_on_parent_death`` was asked."""
    return os.getppid() != expected_parent


def exit_with_parent(expected_parent: int) -> None:
    """``kill_on_parent_death``; exit now (PARENT_GONE) if it already has died."""
    kill_on_parent_death()
    if parent_is_gone(expected_parent):
        os._exit(ExitCode.PARENT_GONE)
