"""Keeping the protocol off the action's stdout.

Before any action code is imported the host moves the protocol channel to a
private descriptor and points fds 0/1/2 at /dev/null and at the executor's
output-capture pipes, so ``print()`` or a C library writing to fd 1 becomes a
log line and can never corrupt a frame.
"""

from __future__ import annotations

import os
import sys


def take_channel_from_stdin() -> int:
    """Return a private, non-inheritable copy of fd 0 and point fd 0 at /dev/null."""
    channel = os.dup(0)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    return channel


def attach_output(stdout_fd: int | None = None, stderr_fd: int | None = None) -> None:
    """Point fds 1/2 at the capture pipes (when given) and line-buffer them."""
    if stdout_fd is not None:
        os.dup2(stdout_fd, 1)
    if stderr_fd is not None:
        os.dup2(stderr_fd, 2)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
