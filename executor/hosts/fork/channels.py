"""The descriptors a forked host is born with: its channel and two output pipes.

Made by the executor and handed to the template with SCM_RIGHTS, so the
executor talks to the child directly and no frame is relayed by the template.
"""

from __future__ import annotations

import os
import socket

from executor.sandbox.policy import Sandbox


def host_channels(sandbox: Sandbox) -> tuple[socket.socket, socket.socket, int, int, int, int]:
    """A new host's channel (ours, theirs) and output pipes (out r/w, err r/w).
    Out of descriptors (EMFILE) leaks nothing, the workdir included."""
    opened: list[int] = []
    try:
        ours, theirs = socket.socketpair()
        opened += [ours.detach(), theirs.detach()]
        opened += os.pipe()
        opened += os.pipe()
    except OSError as exc:
        for fd in opened:
            os.close(fd)
        sandbox.cleanup()
        # Not the template's fault: do not replace it, fail this request.
        raise OSError(exc.errno, f"cannot make the channels of a new host: {exc}") from None
    out_r, out_w, err_r, err_w = opened[2:]
    return (
        socket.socket(fileno=opened[0]),
        socket.socket(fileno=opened[1]),
        *(out_r, out_w, err_r, err_w),
    )
