"""Reusing existing actions from inside an action.

The call goes back to the executor, which runs the other action through the
same machinery as a workflow task would: its own sandboxed host (possibly in
another environment), parameter validation, *your caller's* security
context, an execution context that records your action as the parent, and
whatever is left of your deadline (a nested call never outlives its parent;
cancelling the parent cancels it).

    from actions_api import utils

    echoed = utils.run_action("std.echo", output="x")        # a Result
    assert echoed.data == "x"

    server = utils.get_action("nova.servers_get", server="vm-1")
    details = server.run(raise_on_error=True).data           # ActionException on failure

In a unit test there is no executor: ``actions_api.testing`` runs the action
in-process and answers these calls with a fake (``testing.FakeExecutor``).
"""

from __future__ import annotations

from typing import Any

from . import runtime
from .exceptions import ActionException
from .result import Result


class ActionRef:
    """An action and its parameters, ready to run through the executor."""

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.params = params

    def run(self, *, raise_on_error: bool = False, timeout: float | None = None) -> Result:
        """Run it; an error Result comes back as is unless ``raise_on_error``.

        ``timeout`` (seconds) shortens the deadline; it can never extend the
        calling action's own.
        """
        result: Result = runtime.backend().run_action(
            self.name, self.params, dry_run=False, timeout=timeout
        )
        if raise_on_error and not result.is_success():
            raise ActionException(f"action {self.name} failed: {result.error}")
        return result

    def test(self, *, timeout: float | None = None) -> Result:
        """Dry-run it (its ``test()``)."""
        result: Result = runtime.backend().run_action(
            self.name, self.params, dry_run=True, timeout=timeout
        )
        return result

    def __repr__(self) -> str:
        from .secrets import mask

        return f"ActionRef({self.name!r}, {mask(self.params)!r})"


def get_action(name: str, /, **params: Any) -> ActionRef:
    """Get the action called ``name`` with ``params``; ``.run()`` runs it."""
    return ActionRef(name, params)


def run_action(name: str, /, **params: Any) -> Result:
    """Run the action called ``name`` with ``params`` now and return its Result."""
    return ActionRef(name, params).run()
