"""The hosting interface: which action runs now, and how it reaches the executor.

Action authors never need this module; whatever *runs* actions does (the
sandboxed host of mistral-action-host, and ``actions_api.testing``). It
holds the one record of the running action, a ``Run``: its context, its
cancel flag and the ``Backend`` that answers its nested ``utils`` calls.
``context.current()``, ``context.cancel_requested()`` and ``utils`` all
read that record, so there is one place that says what "the current run" is.

A host runs an action like this::

    run = runtime.begin(context, backend, action="my.action")
    try:
        ...build the action and call run(context)...
    finally:
        runtime.end(run)

and, from any thread, ``runtime.request_cancel()`` when asked to stop.

Visibility: ``begin`` sets a context variable (so in-process runs on
different threads or nested in one another each see their own) *and* a
process-wide fallback, because one host process runs one action and the
threads that action starts, which do not inherit context variables, must
see its run too.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .context import ActionContext
    from .result import Result

__all__ = [
    "Backend",
    "Run",
    "activate",
    "backend",
    "begin",
    "current_run",
    "end",
    "request_cancel",
]


class Backend(Protocol):
    """What answers ``utils.run_action``/``get_action`` for the running action.

    The host's backend sends the call to the executor; ``testing.FakeExecutor``
    answers it in the test's own process.
    """

    def run_action(
        self, name: str, params: dict[str, Any], *, dry_run: bool, timeout: float | None
    ) -> Result:
        """Run action ``name`` with ``params`` (``test()`` if ``dry_run``); its Result."""
        ...


@dataclass(eq=False)
class Run:
    """One action run: what ``current()``, ``cancel_requested()`` and ``utils`` see."""

    context: ActionContext
    #: Answers nested ``utils`` calls; None: this run cannot reuse actions.
    backend: Backend | None = None
    #: The running action's name (nested calls list it in ``parent_actions``).
    action: str = ""
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    # What ``end`` restores: this thread's previous run and the process's.
    _token: contextvars.Token[Run | None] | None = field(default=None, repr=False)
    _outer: Run | None = field(default=None, repr=False)

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def request_cancel(self) -> None:
        """Ask this run to stop (the action sees ``cancel_requested()`` turn True)."""
        self._cancel.set()


_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "actions_api_current_run", default=None
)


class _Process:
    """The process-wide fallback; its lock keeps begin/end/cancel consistent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.run: Run | None = None
        #: A cancel that arrived before the run began (the host's reader thread
        #: can see one while the action is still loading); the next run gets it.
        self.cancel_pending = False


_process = _Process()


def begin(
    context: ActionContext,
    backend: Backend | None = None,
    *,
    action: str = "",
    cancelled: bool = False,
) -> Run:
    """Make a new run current in this thread and, as fallback, in the process.

    ``cancelled`` starts it with its cancel flag set (a cancel requested while
    no run was active does the same). Pair every ``begin`` with ``end``.
    """
    with _process.lock:
        run = Run(context, backend, action)
        if cancelled or _process.cancel_pending:
            run.request_cancel()
        _process.cancel_pending = False
        run._outer = _process.run
        _process.run = run
    run._token = _current.set(run)
    return run


def end(run: Run) -> None:
    """Undo ``begin``: the run that was current before it is current again."""
    if run._token is not None:
        try:
            _current.reset(run._token)
        except ValueError:  # ended from another thread or context: nothing to restore there
            pass
        run._token = None
    with _process.lock:
        if _process.run is run:
            _process.run = run._outer


def current_run() -> Run | None:
    """The run of this thread, else of the process; None outside any run."""
    return _current.get() or _process.run


def request_cancel() -> None:
    """Ask the running action to stop; safe from any thread.

    With no run active the request is kept for the next run of this process
    (a host runs one action, and the cancel may overtake its start).
    """
    with _process.lock:
        run = _current.get() or _process.run
        if run is None:
            _process.cancel_pending = True
            return
    run.request_cancel()


def backend() -> Backend:
    """The backend of the current run, or an error that says how to test instead."""
    run = current_run()
    if run is None:
        raise RuntimeError(
            "actions_api.utils can only run actions from inside an action that a "
            "mistral-action-host executor runs (no action is running in this process); "
            "to unit-test an action that reuses other actions, run it with "
            "actions_api.testing.run(MyAction, params, executor=actions_api.testing."
            "FakeExecutor()) and give the fake an answer for each nested action"
        )
    if run.backend is None:
        raise RuntimeError(
            f"the running action{f' {run.action}' if run.action else ''} has no executor "
            "to run nested actions with; in a unit test, pass "
            "executor=actions_api.testing.FakeExecutor() to actions_api.testing.run "
            "(or use the action_runner pytest fixture, whose .executor is one)"
        )
    return run.backend


def activate(context: ActionContext | None) -> None:
    """Make ``context`` current for this thread and the process, with no backend.

    The low-level form of ``context.activate``: no ``end`` restores what was
    current before; None leaves no run current. Prefer ``begin``/``end``.
    """
    with _process.lock:
        run = None if context is None else Run(context)
        _process.run = run
        _process.cancel_pending = False
    _current.set(run)
