"""Exit codes of every runtime process: a served host, a template, a forked child.

The executor turns them into error text (``describe_returncode``); both sides
import this one table so a code never means two things.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    #: The executor closed the channel after its answer: the normal end.
    OK = 0
    #: The command line was wrong (``action-host`` run by hand).
    USAGE = 2
    #: The peer broke the protocol (a bad frame or message); the host gave up.
    PROTOCOL_ERROR = 70
    #: An error in the runtime itself, not in the action; the traceback is on stderr.
    INTERNAL_ERROR = 71
    #: A forked child could not set itself up (sandbox, descriptors, workdir).
    CHILD_SETUP_FAILED = 72
    #: The launcher could not confine the process before starting the
    #: environment's interpreter (a user namespace, the view, a cgroup...).
    LAUNCH_FAILED = 73

    def describe(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    ExitCode.OK: "exited normally",
    ExitCode.USAGE: "was started with a wrong command line",
    ExitCode.PROTOCOL_ERROR: "gave up after a protocol error",
    ExitCode.INTERNAL_ERROR: "failed inside the action host runtime (not the action)",
    ExitCode.CHILD_SETUP_FAILED: "could not set up its sandbox",
    ExitCode.LAUNCH_FAILED: "could not be confined before it started (see its stderr)",
}
