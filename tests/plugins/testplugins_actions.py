"""Actions that exercise the host: output, crashes, children, odd values."""

import ctypes
import os
import signal
import subprocess
import sys
import time

from actions_api import Action, Result

COUNTER = 0


class PrintAction(Action):
    """Write to stdout and stderr from Python and straight to fds 1 and 2."""

    def run(self, context):
        print("hello from print")
        sys.stderr.write("hello from sys.stderr\n")
        os.write(1, b"hello from fd 1\n")
        os.write(2, b"hello from fd 2\n")
        return "done"


class RaiseAction(Action):
    def __init__(self, message="boom"):
        self.message = message

    def run(self, context):
        raise ValueError(self.message)


class ExitAction(Action):
    def __init__(self, code=3):
        self.code = code

    def run(self, context):
        os._exit(self.code)


class SysExitAction(Action):
    def run(self, context):
        sys.exit(4)


class SegfaultAction(Action):
    def run(self, context):
        ctypes.string_at(0)


class KillSelfAction(Action):
    def run(self, context):
        os.kill(os.getpid(), signal.SIGKILL)


class SpawnSleeperAction(Action):
    """Start a child that would outlive the action, then hang."""

    def __init__(self, pidfile, hang=True):
        self.pidfile = pidfile
        self.hang = hang

    def run(self, context):
        child = subprocess.Popen(["sleep", "1000"])
        with open(self.pidfile, "w") as f:
            f.write(str(child.pid))
        if self.hang:
            time.sleep(1000)
        return child.pid


class TouchAction(Action):
    """Create a file: proof that the action ran."""

    def __init__(self, path, mode="w"):
        self.path = path
        self.mode = mode

    def run(self, context):
        with open(self.path, self.mode) as f:
            f.write("ran")
        return self.path


class UnserializableAction(Action):
    def run(self, context):
        return {"servers": [1, 2, {"created": object()}]}


class ContextAction(Action):
    """Return the context the action received."""

    def run(self, context):
        return {
            "security": context.security.to_dict(),
            "execution": context.execution.to_dict(),
        }


class OldStyleAction(Action):
    """Written for the old API: run() takes no context."""

    def run(self):
        return "old style works"


class CounterAction(Action):
    """Increment a module-level counter: stays 1 if every run gets a fresh process."""

    def run(self, context):
        global COUNTER
        COUNTER += 1
        return {"counter": COUNTER, "pid": os.getpid()}


class EnvLeakAction(Action):
    """Set process state, and report what the previous run may have left."""

    def run(self, context):
        seen = {
            "env": os.environ.get("LEAKED_VAR"),
            "cwd_file": os.path.exists("leak.txt"),
            "global": globals().get("LEAKED_GLOBAL"),
            "cwd": os.getcwd(),
            "environ_keys": sorted(os.environ),
        }
        os.environ["LEAKED_VAR"] = "yes"
        globals()["LEAKED_GLOBAL"] = "yes"
        with open("leak.txt", "w") as f:
            f.write("x")
        return seen


class KwargsAction(Action):
    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def run(self, context):
        return self.kwargs


class BigAction(Action):
    def __init__(self, size=0):
        self.size = size

    def run(self, context):
        return "x" * self.size


class ResultErrorAction(Action):
    def run(self, context):
        return Result(error={"reason": "bad"})
