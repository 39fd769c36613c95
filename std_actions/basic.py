"""std.echo, std.noop, std.async_noop, std.fail, std.sleep, std.test_dict.

Same names, parameters and behaviour as Mistral's ``std_actions.py``.
"""

from __future__ import annotations

import time
from typing import Any

from actions_api import Action, ActionContext, ActionException, Result


class EchoAction(Action):
    """Return the given output, after an optional delay in seconds."""

    def __init__(self, output: Any, delay: float = 0):
        self.output = output
        try:
            self._delay = max(0.0, float(delay))
        except (TypeError, ValueError):
            self._delay = 0.0

    def run(self, context: ActionContext) -> Any:
        if self._delay:
            time.sleep(self._delay)
        return self.output

    def test(self, context: ActionContext) -> Any:
        return "Echo"


class NoOpAction(Action):
    """Do nothing and return None."""

    def run(self, context: ActionContext) -> None:
        return None

    def test(self, context: ActionContext) -> None:
        return None


class AsyncNoOpAction(NoOpAction):
    """Do nothing; the result is delivered later through Mistral's API."""

    def is_sync(self) -> bool:
        return False


class FailAction(Action):
    """Always fail: with ``error_data`` as the error, or with an exception."""

    def __init__(self, error_data: Any = None):
        self.error_data = error_data

    def run(self, context: ActionContext) -> Any:
        if self.error_data:
            return Result(error=self.error_data)
        raise ActionException("Fail action expected exception.")

    def test(self, context: ActionContext) -> Any:
        if self.error_data:
            return Result(error=self.error_data)
        raise ActionException("Fail action expected exception.")


class SleepAction(Action):
    """Sleep the given number of seconds (whole seconds, as Mistral)."""

    def __init__(self, seconds: int = 1):
        try:
            self._seconds = max(0, int(seconds))
        except (TypeError, ValueError):
            self._seconds = 0

    def run(self, context: ActionContext) -> None:
        time.sleep(self._seconds)

    def test(self, context: ActionContext) -> None:
        time.sleep(1)


class TestDictAction(Action):
    """Return a dict of ``size`` entries ``{key_prefix + i: val}``."""

    __test__ = False  # not a pytest test class

    def __init__(self, size: int = 0, key_prefix: str = "", val: str = ""):
        self.size = size
        self.key_prefix = key_prefix
        self.val = val

    def run(self, context: ActionContext) -> dict[str, Any]:
        return {f"{self.key_prefix}{i}": self.val for i in range(int(self.size))}

    def test(self, context: ActionContext) -> dict[str, Any]:
        return {}
