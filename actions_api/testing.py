"""Unit-testing actions in-process, without an executor or a sandbox.

``run`` does what the host does (build the action with its parameters,
call ``run`` or ``test`` with a context, turn a value, a ``Result`` or an
exception into a result) with the host's own rules (``actions_api.outcome``),
so the test sees the data and error text the executor would return::

    from actions_api import testing

    result = testing.run(Greet, {"name": "Ann"}, context=testing.context(user_name="ann"))
    assert result.data == "Hello Ann!"

Nested ``utils.run_action``/``get_action`` calls are answered by a
``FakeExecutor`` that the test fills; it records each call with the params
and the context the nested action would get::

    fake = testing.FakeExecutor()
    fake.add("std.echo", lambda output: output)
    testing.run(DoubleEcho, {"text": "ab"}, executor=fake)
    assert [call.params for call in fake.calls] == [{"output": "ab"}, {"output": "abab"}]

``cancel_requested()`` turns True with ``testing.request_cancel()`` (from a
fake's answer or a thread while the action runs) or from the start with
``run(..., cancel_requested=True)``. With pytest, the ``action_runner``
fixture (installed with this package) bundles all of it.

What a test does not get: the sandbox, the process boundary's copy of
each value (values are checked, and pass through their wire form, but in
the same process), timeouts, and the result size limit.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from . import outcome, runtime
from .action import Action
from .context import ActionContext, ExecutionContext, SecurityContext
from .params import invalid_input
from .result import Result
from .serialization import from_wire, to_wire

__all__ = [
    "ActionRunner",
    "FakeExecutor",
    "NestedCall",
    "RunResult",
    "context",
    "request_cancel",
    "run",
]

_SECURITY = tuple(f.name for f in fields(SecurityContext))
_EXECUTION = tuple(f.name for f in fields(ExecutionContext))


def context(**values: Any) -> ActionContext:
    """An ``ActionContext`` from flat field names, e.g. ``context(user_name="ann")``.

    Every field of ``SecurityContext`` and ``ExecutionContext`` may be given
    (their names do not overlap); the rest keep their defaults.
    """
    security: dict[str, Any] = {}
    execution: dict[str, Any] = {}
    for name, value in values.items():
        if name in _SECURITY:
            security[name] = value
        elif name in _EXECUTION:
            execution[name] = tuple(value) if name == "parent_actions" else value
        else:
            # protocol.suggest's did_you_mean, again: actions_api imports no package of ours.
            close = difflib.get_close_matches(name, _SECURITY + _EXECUTION, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise TypeError(
                f"testing.context() got an unknown field {name!r}{hint} (fields: "
                f"{', '.join(_SECURITY)}; {', '.join(_EXECUTION)})"
            )
    return ActionContext(
        security=SecurityContext(**security), execution=ExecutionContext(**execution)
    )


class RunResult(Result):
    """A ``Result`` plus what the executor reports beside it.

    Compares equal to a plain ``Result`` with the same data, error and cancel.
    """

    __slots__ = ("failure", "exception", "is_sync", "raised")

    def __init__(self, done: outcome.Outcome) -> None:
        super().__init__(from_wire(done.data), from_wire(done.error), done.cancel)
        #: ``"raised"``, ``"not_serializable"``, ``"invalid_input"`` or None
        #: (see ``actions_api.outcome``).
        self.failure = done.failure
        #: Qualified type name of the exception that ended the run (``"ValueError"``).
        self.exception = done.exception
        self.is_sync = done.is_sync
        #: The exception itself: ``raise result.raised`` shows its traceback in a test.
        self.raised = done.raised


@dataclass(frozen=True)
class NestedCall:
    """One ``utils`` call the action made, as the executor would have received it."""

    name: str
    params: dict[str, Any]
    #: The context the nested action gets: the caller's security context, and
    #: its execution context with the caller appended to ``parent_actions``.
    context: ActionContext
    dry_run: bool = False
    timeout: float | None = None


#: A callable, an ``Action`` subclass, a ``Result`` or a plain value (see ``FakeExecutor``).
Answer = Any


class FakeExecutor:
    """Answers an action's nested ``utils`` calls in a test, and records them.

    ``add(name, answer)`` says how action ``name`` answers; ``answer`` is

    * a callable: called with the call's params as keyword arguments; what it
      returns or raises is normalised like an action's (``Result`` as is, a
      value as data, an exception as an error);
    * an ``Action`` subclass: built with the params and run in-process with
      the nested context (so ``context.current()`` works in it);
    * anything else: the answer itself (a value as data, or a ``Result``).

    A call to an action without an answer gets an error ``Result`` (as an
    unknown action would from the executor) naming the fix. The same answer
    serves ``.run()`` and ``.test()``; ``NestedCall.dry_run`` tells them apart.
    """

    def __init__(self) -> None:
        self._answers: dict[str, Answer] = {}
        self._lock = threading.Lock()
        #: Every call, in order, including calls to actions without an answer.
        self.calls: list[NestedCall] = []

    def add(self, name: str, answer: Answer) -> FakeExecutor:
        """Answer calls to ``name`` with ``answer`` (replacing an earlier one)."""
        self._answers[name] = answer
        return self

    def calls_to(self, name: str) -> list[NestedCall]:
        """The recorded calls to ``name``, in order."""
        return [call for call in self.calls if call.name == name]

    def run_action(
        self, name: str, params: dict[str, Any], *, dry_run: bool, timeout: float | None
    ) -> Result:
        """The ``runtime.Backend`` method that ``utils`` calls."""
        parent = runtime.current_run()
        if parent is None:  # utils found this backend, so a run is current
            raise RuntimeError("FakeExecutor.run_action called outside an action run")
        # The host sends params in wire form: unsendable ones fail here, in the action.
        sent = from_wire(to_wire(params, "$.params"))
        nested = _nested_context(parent.context, parent.action)
        with self._lock:
            self.calls.append(NestedCall(name, sent, nested, dry_run, timeout))
        if name not in self._answers:
            known = ", ".join(sorted(self._answers)) or "none"
            return Result(
                error=f"action {name!r} not found: this test's FakeExecutor has no answer for "
                f"it (it answers: {known}); add one with fake.add({name!r}, ...)"
            )
        return self._answer(name, self._answers[name], sent, nested, dry_run, parent)

    def _answer(
        self,
        name: str,
        answer: Answer,
        params: dict[str, Any],
        nested: ActionContext,
        dry_run: bool,
        parent: runtime.Run,
    ) -> Result:
        if isinstance(answer, type) and issubclass(answer, Action):
            return run(
                answer,
                params,
                context=nested,
                dry_run=dry_run,
                executor=self,
                name=name,
                cancel_requested=parent.cancel_requested,
            )
        if callable(answer):

            def call_it() -> Any:
                return _Returns(answer(**params))

            done = outcome.perform(call_it, nested, label=name)
        else:
            done = outcome.perform(lambda: _Returns(answer), nested, label=name)
        return Result(from_wire(done.data), from_wire(done.error), done.cancel)


class _Returns(Action):
    """Lets ``outcome.perform`` normalise a fake's answer exactly like an action's."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def run(self, context: ActionContext) -> Any:
        return self._value


def _nested_context(parent: ActionContext, parent_action: str) -> ActionContext:
    """What the executor gives a nested action: same caller, one more parent."""
    chain = (*parent.execution.parent_actions, parent_action)
    return replace(parent, execution=replace(parent.execution, parent_actions=chain))


def run(
    action: type[Any] | Any,
    params: Mapping[str, Any] | None = None,
    *,
    context: ActionContext | None = None,
    dry_run: bool = False,
    executor: runtime.Backend | None = None,
    name: str | None = None,
    cancel_requested: bool = False,
) -> RunResult:
    """Run ``action`` in this process as the host would; return its ``RunResult``.

    ``action`` is an action class (built with ``params``, which pass through
    their wire form first, as they do on the way to a host) or an action
    already built (then ``params`` must be empty). ``context`` defaults to an
    empty ``ActionContext``; during the run it is ``context.current()``.
    ``executor`` (a ``FakeExecutor``) answers nested ``utils`` calls; without
    one they fail with an error that says to pass one. ``name`` is the
    action's registered name, used in error texts and as the parent of
    nested calls (default: the class's dotted path). ``cancel_requested``
    starts the run with ``context.cancel_requested()`` already True.

    Never raises for what the action does (a ``KeyboardInterrupt`` is passed
    on): an exception is an error result, its object in ``.raised``.
    """
    if isinstance(action, type):
        cls = action
        wire = to_wire(dict(params or {}), "$.params")

        def build() -> Any:
            return cls(**from_wire(wire))

    else:
        if params:
            raise TypeError(
                f"testing.run got an action object ({type(action).__qualname__}) and params; "
                "pass the class with params, or the built action alone"
            )
        cls = type(action)

        def build() -> Any:
            return action

    label = name or f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(action, type):
        problem = invalid_input(cls, params or {}, label)
        if problem is not None:  # refused as the executor refuses it: nothing runs
            return RunResult(
                outcome.Outcome(error=problem, failure="invalid_input", exception="InvalidInput")
            )
    ctx = context if context is not None else ActionContext()
    current = runtime.begin(ctx, executor, action=label, cancelled=cancel_requested)
    try:
        done = outcome.perform(build, ctx, dry_run=dry_run, label=label)
    finally:
        runtime.end(current)
    if isinstance(done.raised, KeyboardInterrupt):
        raise done.raised
    return RunResult(done)


def request_cancel() -> None:
    """Ask the action running now to stop: ``cancel_requested()`` turns True.

    Call it from a fake's answer or from a thread while ``run`` runs; to start
    a run already cancelled, pass ``cancel_requested=True`` to ``run``.
    """
    if runtime.current_run() is None:
        raise RuntimeError(
            "testing.request_cancel() needs a running action (call it from a fake's "
            "answer or a thread during testing.run); to start a run already cancelled "
            "pass cancel_requested=True to testing.run"
        )
    runtime.request_cancel()


@dataclass
class ActionRunner:
    """What the ``action_runner`` pytest fixture gives a test.

    ``executor`` (a ``FakeExecutor``) answers nested calls of every run, and
    ``context`` is the default context of ``run`` (replace it, or pass one).
    """

    executor: FakeExecutor = field(default_factory=FakeExecutor)
    context: ActionContext = field(default_factory=ActionContext)

    def run(
        self,
        action: type[Any] | Any,
        params: Mapping[str, Any] | None = None,
        *,
        context: ActionContext | None = None,
        dry_run: bool = False,
        name: str | None = None,
        cancel_requested: bool = False,
    ) -> RunResult:
        """``testing.run`` with this runner's fake executor and default context."""
        return run(
            action,
            params,
            context=context if context is not None else self.context,
            dry_run=dry_run,
            executor=self.executor,
            name=name,
            cancel_requested=cancel_requested,
        )

    def add(self, name: str, answer: Answer) -> ActionRunner:
        """Answer nested calls to ``name`` (see ``FakeExecutor.add``)."""
        self.executor.add(name, answer)
        return self

    @property
    def calls(self) -> list[NestedCall]:
        """The nested calls recorded so far."""
        return self.executor.calls

    @staticmethod
    def context_for(**values: Any) -> ActionContext:
        """``testing.context``: build a context from flat field names."""
        return context(**values)

    @staticmethod
    def request_cancel() -> None:
        """``testing.request_cancel``: ask the running action to stop."""
        request_cancel()
