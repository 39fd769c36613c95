"""The method table: every method name with its params and result models.

A ``MethodSpec`` ties a request to its result type, so ``Endpoint.call``
returns the right model without ``isinstance`` narrowing at the call site.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from . import messages as m

P = TypeVar("P", bound=m.Model)
R = TypeVar("R", bound=m.Model)


@dataclass(frozen=True)
class MethodSpec(Generic[P, R]):
    name: str
    params: type[P]
    result: type[R] | None  # None: a notification, no answer
    direction: str  # "to_host", "to_executor" or "to_template"/"from_template"
    doc: str

    @property
    def is_notification(self) -> bool:
        return self.result is None

    def parse_result(self, raw: Any) -> R:
        """The result model of a response (raises pydantic's ValidationError)."""
        if self.result is None:
            raise TypeError(f"{self.name} is a notification: it has no result")
        return self.result.model_validate(raw)


# executor -> host
INITIALIZE = MethodSpec(
    "initialize",
    m.InitializeParams,
    m.InitializeResult,
    "to_host",
    "handshake: compare versions, learn the host's pid and interpreter",
)
RUN_ACTION = MethodSpec(
    "action.run",
    m.RunActionParams,
    m.ActionOutcome,
    "to_host",
    "run one action (or its test() when dry_run) and answer with its outcome",
)
LIST_ACTIONS = MethodSpec(
    "actions.list",
    m.ListActionsParams,
    m.ListActionsResult,
    "to_host",
    "describe every action entry point the host can see",
)
CANCEL: MethodSpec[m.CancelParams, m.Model] = MethodSpec(
    "$/cancel", m.CancelParams, None, "to_host", "soft-cancel the running action"
)

# host -> executor
REUSE_ACTION = MethodSpec(
    "action.run",
    m.RunActionParams,
    m.ActionOutcome,
    "to_executor",
    "run another action through the executor (reuse of existing actions)",
)
LOG: MethodSpec[m.LogParams, m.Model] = MethodSpec(
    "log", m.LogParams, None, "to_executor", "one log record"
)

# executor <-> template (zygote) control channel
FORK_CHILD = MethodSpec(
    "child.fork",
    m.ForkChildParams,
    m.ForkChildResult,
    "to_template",
    "fork one single-use child on the channels passed with the request",
)
PRELOAD: MethodSpec[m.PreloadParams, m.Model] = MethodSpec(
    "template.preload",
    m.PreloadParams,
    None,
    "to_template",
    "import these actions into the template, so later children share them",
)
CHILD_EXITED: MethodSpec[m.ChildExitedParams, m.Model] = MethodSpec(
    "child.exited",
    m.ChildExitedParams,
    None,
    "from_template",
    "a child was reaped; status is the raw waitpid status",
)
TEMPLATE_READY: MethodSpec[m.TemplateReadyParams, m.Model] = MethodSpec(
    "template.ready",
    m.TemplateReadyParams,
    None,
    "from_template",
    "the template finished its imports",
)

ALL_METHODS: tuple[MethodSpec[Any, Any], ...] = (
    INITIALIZE,
    RUN_ACTION,
    LIST_ACTIONS,
    CANCEL,
    REUSE_ACTION,
    LOG,
    FORK_CHILD,
    PRELOAD,
    CHILD_EXITED,
    TEMPLATE_READY,
)
