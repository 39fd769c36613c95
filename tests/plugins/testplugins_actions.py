"""Actions that exercise the host: output, crashes, children, odd values."""

import ctypes
import os
import signal
import subprocess
import sys
import time

from actions_api import Action, Result

COUNTER = 0
#: The process that imported this module: a warm template, or the host itself.
IMPORTED_BY = os.getpid()


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


class ImportedWhereAction(Action):
    """Say whether this module was imported by this very host (not preloaded)."""

    def run(self, context):
        return {"imported_here": IMPORTED_BY == os.getpid()}


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


# -- reuse, context, secrets, serialization (issue 4) ------------------------------

import datetime  # noqa: E402
import logging  # noqa: E402
import threading  # noqa: E402

from actions_api import ActionException, utils  # noqa: E402
from actions_api import context as api_context  # noqa: E402
from actions_api.serialization import register_serializer  # noqa: E402


class ReuseEchoAction(Action):
    """Run std.echo through the executor and return what it returned."""

    def __init__(self, output):
        self.output = output

    def run(self, context):
        result = utils.run_action("std.echo", output=self.output)
        return {"data": result.data, "pid": os.getpid()}


class ReuseFailAction(Action):
    def __init__(self, raise_on_error=False):
        self.raise_on_error = raise_on_error

    def run(self, context):
        result = utils.get_action("std.fail", error_data="inner broke").run(
            raise_on_error=self.raise_on_error
        )
        return {"is_error": result.is_error(), "error": result.error}


class RecurseAction(Action):
    """Call itself: the nesting limit must stop it with the whole chain."""

    def run(self, context):
        result = utils.run_action("test.recurse")
        if result.is_error():
            return Result(error=result.error)
        return result.data


class ReuseSleeperAction(Action):
    """Start a nested action that would outlive this one."""

    def __init__(self, pidfile):
        self.pidfile = pidfile

    def run(self, context):
        return utils.run_action("test.spawn_sleeper", pidfile=self.pidfile).error


class ReuseContextAction(Action):
    """What a nested action sees of its context."""

    def run(self, context):
        return utils.run_action("test.context").data


class ContextInThreadAction(Action):
    """Helper code without the context argument, in a thread the action starts."""

    def run(self, context):
        seen = []

        def helper():
            seen.append(api_context.current().execution.workflow_execution_id)

        thread = threading.Thread(target=helper)
        thread.start()
        thread.join()
        return {"from_thread": seen[0], "same_object": api_context.current() is context}


class LogSecretsAction(Action):
    """Careless about secrets: logs and fails with them."""

    def __init__(self, password, host="db"):
        self.password = password
        self.host = host

    def run(self, context):
        logging.getLogger("careless").warning(
            "connecting with token %s and password %s", context.security.auth_token, self.password
        )
        print(f"token again: {context.security.auth_token}")
        raise ActionException(f"login failed for password {self.password}")


class Money:
    def __init__(self, cents, currency):
        self.cents = cents
        self.currency = currency


register_serializer(
    Money,
    "testplugins.Money",
    to_data=lambda m: {"cents": m.cents, "currency": m.currency},
    from_data=lambda d: Money(d["cents"], d["currency"]),
)


class RichValuesAction(Action):
    """Return every kind of value the boundary supports."""

    def __init__(self, value=None):
        self.value = value

    def run(self, context):
        return {
            "received": self.value,
            "received_type": type(self.value).__name__,
            "when": datetime.datetime(2026, 11, 22, 12, 30),
            "raw": b"\x00\xff",
            "pair": (1, "two"),
            "nested": Result(data={"ok": True}),
            "price": Money(1999, "EUR"),
        }


class MoneyParamAction(Action):
    """Receives a custom type that travelled through another action."""

    def __init__(self, price):
        self.price = price

    def run(self, context):
        return {"cents": self.price.cents, "type": type(self.price).__name__}


class ReuseRichAction(Action):
    def run(self, context):
        rich = utils.run_action("test.rich_values").data
        forwarded = utils.run_action("test.money_param", price=rich["price"]).data
        return {
            "price_type": type(rich["price"]).__name__,
            "nested_type": type(rich["nested"]).__name__,
            "forwarded": forwarded,
        }


# -- review fixes: limits, fan-out, soft cancel, big inputs --------------------------

import resource  # noqa: E402


class LimitsAction(Action):
    def run(self, context):
        return {
            "open_files": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
            "file_size": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
        }


class FanOutAction(Action):
    """Start ``n`` nested actions at once, from threads."""

    def __init__(self, n=4, seconds=1):
        self.n = n
        self.seconds = seconds

    def run(self, context):
        results: list = [None] * self.n

        def one(i):
            results[i] = utils.run_action("std.sleep", seconds=self.seconds)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(self.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [r.error for r in results]


class NestedSecretAction(Action):
    """Pass a secret to a nested action that leaks it in its error."""

    def run(self, context):
        return utils.run_action("test.log_secrets", password="nested-pass-9876").error


class CooperativeAction(Action):
    """Wait until asked to stop, then return cleanly."""

    def run(self, context):
        while not api_context.cancel_requested():
            time.sleep(0.02)
        return "stopped when asked"


class SizeAction(Action):
    def __init__(self, blob):
        self.blob = blob

    def run(self, context):
        return len(self.blob)


class SandboxStepsAction(Action):
    """What its host's entry into the sandbox cost, per step, in order."""

    def run(self, context):
        from action_host.sandbox import ENTERED

        return [[step, seconds] for step, seconds in ENTERED.items()]
