"""Exit codes, one table per kind of process.

``ExitCode``: every runtime process (a served or spawned host, a template, a
forked child, the launcher). The executor turns them into error text
(``describe_returncode``); both sides import this one table so a code never
means two things.

``CommandExit``: the commands a person or a script runs (``action-executor``
and its ``serve``), as their help texts and README state them.

Stdlib only: every process imports it, the host's before any plugin code.
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
    #: A host could not set up its sandbox: a forked child (sandbox,
    #: descriptors, workdir) or a spawned host (``action-host --sandbox``).
    CHILD_SETUP_FAILED = 72
    #: The launcher could not confine the process before starting the
    #: environment's interpreter (a user namespace, the view, a cgroup...).
    LAUNCH_FAILED = 73
    #: The environment's settings could not be applied (a config file, or a
    #: module to import before the actions); the reason is on stderr.
    SETTINGS_FAILED = 74
    #: Its parent (the executor or the launcher) was gone when it started.
    PARENT_GONE = 75

    def describe(self) -> str:
        return _DESCRIPTIONS[self]


class CommandExit(enum.IntEnum):
    #: Done: the action succeeded, the command did what was asked.
    OK = 0
    #: The action failed, or the command could not do it (the reason is printed).
    FAILED = 1
    #: The request was wrong: usage, a bad option or configuration, an unknown
    #: action or environment, input the action refuses.
    USAGE = 2


_DESCRIPTIONS = {
    ExitCode.OK: "exited normally",
    ExitCode.USAGE: "was started with a wrong command line",
    ExitCode.PROTOCOL_ERROR: "gave up after a protocol error",
    ExitCode.INTERNAL_ERROR: "failed inside the action host runtime (not the action)",
    ExitCode.CHILD_SETUP_FAILED: "could not set up its sandbox",
    ExitCode.LAUNCH_FAILED: "could not be confined before it started (see its stderr)",
    ExitCode.SETTINGS_FAILED: "could not apply its environment's settings (see its stderr)",
    ExitCode.PARENT_GONE: "found its parent gone when it started",
}
