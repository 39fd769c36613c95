"""Contexts an action runs in: who it runs for, and where in which workflow.

The executor fills both with every run. ``current()`` returns the context of
the running action to helper code that was not handed it, including code in
threads the action starts (one host process runs exactly one action, so the
process-wide fallback is that action's context).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from . import runtime

#: Names of fields whose values are secrets: masked in every repr.
SECRET_FIELDS = frozenset({"auth_token", "service_catalog", "trust_id"})
_MASK = "***"


def _masked_repr(obj: Any) -> str:
    parts = []
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None:
            continue
        shown = _MASK if f.name in SECRET_FIELDS else repr(value)
        parts.append(f"{f.name}={shown}")
    return f"{type(obj).__name__}({', '.join(parts)})"


@dataclass(frozen=True, kw_only=True, repr=False)
class SecurityContext:
    """The caller's credentials: mistral-lib's 14 fields and the user's id
    (Mistral's RPC context ``user``); secrets are masked in repr."""

    auth_cacert: str | None = None
    auth_token: str | None = None
    auth_uri: str | None = None
    expires_at: str | None = None
    insecure: bool | None = None
    is_target: bool | None = None
    is_trust_scoped: bool | None = None
    project_id: str | None = None
    project_name: str | None = None
    redelivered: bool | None = None
    region_name: str | None = None
    service_catalog: Any = None
    trust_id: str | None = None
    user_name: str | None = None
    user_id: str | None = None

    __repr__ = _masked_repr

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, repr=False)
class ExecutionContext:
    """Where the action runs: workflow, task and action execution ids and more."""

    workflow_execution_id: str | None = None
    task_execution_id: str | None = None
    action_execution_id: str | None = None
    workflow_name: str | None = None
    callback_url: str | None = None
    with_items_index: int = 0
    task_rerun_no: int = 0
    task_rerun_id: str | None = None
    workflow_propagated_headers: dict[str, Any] | None = None
    #: Names of the actions that called this one through ``utils``, outermost first.
    parent_actions: tuple[str, ...] = field(default_factory=tuple)

    __repr__ = _masked_repr

    @property
    def task_id(self) -> str | None:
        """Deprecated alias of ``task_execution_id`` (as in mistral-lib)."""
        warnings.warn(
            "ExecutionContext.task_id is deprecated; use task_execution_id",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.task_execution_id

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["parent_actions"] = list(self.parent_actions)
        return data


@dataclass(frozen=True)
class ActionContext:
    """Passed to ``Action.run(context)``: ``.security`` and ``.execution``."""

    security: SecurityContext = field(default_factory=SecurityContext)
    execution: ExecutionContext = field(default_factory=ExecutionContext)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ActionContext:
        data = data or {}
        execution = dict(data.get("execution") or {})
        execution["parent_actions"] = tuple(execution.get("parent_actions") or ())
        return cls(
            security=SecurityContext(**(data.get("security") or {})),
            execution=ExecutionContext(**execution),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "security": self.security.to_dict(),
            "execution": self.execution.to_dict(),
        }


def current() -> ActionContext:
    """The context of the action running now, from any thread of that action.

    Raises ``LookupError`` outside an action (in a unit test, run the action
    with ``actions_api.testing.run``, which makes its context current).
    """
    run = runtime.current_run()
    if run is None:
        raise LookupError(
            "no action is running in this process: actions_api.context.current() "
            "works only inside an action run (in a unit test, run the action with "
            "actions_api.testing.run(MyAction, params, context=...))"
        )
    return run.context


def cancel_requested() -> bool:
    """True once the executor asked the running action to stop (its deadline passed).

    Long-running actions may poll this to clean up and return early; the
    executor kills the action's processes after a short grace period anyway.
    In a unit test, ``actions_api.testing.request_cancel()`` turns it True.
    """
    run = runtime.current_run()
    return run is not None and run.cancel_requested


def request_cancel() -> None:
    """Ask the running action to stop (hosts call ``runtime.request_cancel``; same thing)."""
    runtime.request_cancel()


def activate(ctx: ActionContext | None) -> None:
    """Make ``ctx`` the current context of this process, with no executor behind it.

    A helper for tests of code that calls ``current()`` (None clears it);
    to run a whole action use ``actions_api.testing.run``, and hosts use
    ``actions_api.runtime.begin``/``end``.
    """
    runtime.activate(ctx)
