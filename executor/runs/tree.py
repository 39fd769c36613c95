"""``Run``: one action run in progress, and the tree runs form.

An action that reuses another action starts a nested run under its own; a
run that ends cancels the nested runs still going under it, and a nested
run gets the caller's security context from this record, never from what
the calling host claims. What a run prints and logs goes through its
``RunOutput`` (``runs.output``): bounded in bytes, and in the rate at which it
reaches the executor's own log.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from executor.deadline import Deadline
from executor.lifecycle import Lifecycle
from executor.runs.output import OutputLimits, RunOutput
from executor.sandbox.model import SandboxPolicy
from protocol.messages import ActionContextModel
from protocol.redaction import Redactor, secret_values

if TYPE_CHECKING:
    from executor.hosts.session import HostSession


class RunState(enum.Enum):
    PENDING = "pending"  # waiting for a host
    RUNNING = "running"  # its host has the request
    CANCELLED = "cancelled"  # stopped from outside; its Result is still to come
    FINISHED = "finished"  # its Result is made; nested runs left are cancelled


RUN_MOVES: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.CANCELLED, RunState.FINISHED}),
    RunState.RUNNING: frozenset({RunState.CANCELLED, RunState.FINISHED}),
    RunState.CANCELLED: frozenset({RunState.FINISHED}),
    RunState.FINISHED: frozenset(),
}


@dataclass(eq=False)
class Run:
    action: str
    context: ActionContextModel
    deadline: Deadline
    redact: Redactor
    depth: int = 0
    parent: Run | None = None
    #: Seconds the action may run, counted from when its host is ready
    #: (``arm``): waiting for a slot or a template's first start never eats it.
    timeout: float | None = None
    limited_by_parent: bool = False
    output: RunOutput = field(default_factory=RunOutput)
    children: list[Run] = field(default_factory=list)
    session: HostSession | None = None
    cancel_reason: str = "the calling action ended"
    #: True once cancelled, also after it finished
    cancelled: bool = False
    #: The sandbox it ran in (set when its host is acquired): a nested run
    #: takes the stricter of its own environment's and this one.
    policy: SandboxPolicy | None = None
    lifecycle: Lifecycle[RunState] = field(
        default_factory=lambda: Lifecycle(
            "run", RunState.PENDING, RUN_MOVES, final=(RunState.FINISHED,)
        )
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def done(self) -> bool:
        return self.lifecycle.state is RunState.FINISHED

    @classmethod
    def root(
        cls,
        action: str,
        context: ActionContextModel,
        params: dict[str, Any],
        timeout: float | None,
        limits: OutputLimits | None = None,
    ) -> Run:
        deadline = Deadline.after(timeout)  # bounds the wait for a slot; re-armed to run
        security = context.security
        secrets = secret_values(params, (security.auth_token, security.trust_id))
        return cls(
            action, context, deadline, Redactor(secrets), timeout=timeout, output=RunOutput(limits)
        )

    @property
    def chain(self) -> list[str]:
        """The actions from the outermost caller down to this one."""
        return [*self.context.execution.parent_actions, self.action]

    def arm(self) -> Deadline:
        """Start the run's clock now that its host is ready; a nested run never
        outlives its parent."""
        own = Deadline.after(self.timeout)
        deadline = own if self.parent is None else own.earliest(self.parent.deadline)
        self.deadline = deadline
        self.limited_by_parent = deadline is not own
        return deadline

    @property
    def logs(self) -> list[str]:
        """The output lines kept for ``Result.logs`` (see ``runs.output``)."""
        return self.output.lines

    def log(self, level: int, source: str, message: str, cut: int = 0) -> None:
        """One line the run's host printed or logged; ``cut`` bytes of it were dropped."""
        self.output.add(self.action, level, message, self.redact, cut)

    def attach(self, session: HostSession) -> bool:
        """Record the host running this run; False if the run was cancelled meanwhile."""
        with self._lock:
            self.session = session
            return self.lifecycle.change(RunState.RUNNING, only_from=(RunState.PENDING,))

    def cancel(self, reason: str = "the calling action ended") -> None:
        """Kill this run's host and, through it, every nested run under it."""
        with self._lock:
            if self.done:
                return
            self._cancel(reason)
            session, children = self.session, list(self.children)
        if session is not None:
            session.host.kill()
        for child in children:
            child.cancel(reason)

    def _cancel(self, reason: str) -> None:
        """Under ``_lock`` (or before anyone else sees the run)."""
        self.cancelled = True
        self.cancel_reason = reason
        self.lifecycle.change(RunState.CANCELLED, only_from=(RunState.PENDING, RunState.RUNNING))

    def nest(self, action: str, params: dict[str, Any], timeout: float | None) -> Run:
        """A nested run under this one: same caller, this run as the parent."""
        deadline = Deadline.after(timeout)
        execution = self.context.execution.model_copy(update={"parent_actions": self.chain})
        child = Run(
            action,
            ActionContextModel(security=self.context.security, execution=execution),
            deadline.earliest(self.deadline),
            Redactor([*self.redact.secrets, *secret_values(params)]),
            depth=self.depth + 1,
            parent=self,
            timeout=timeout,
            output=RunOutput(self.output.limits),
        )
        with self._lock:
            if self.cancelled or self.done:
                child._cancel(child.cancel_reason)
            self.children.append(child)
        return child

    def finish(self) -> None:
        """The run is over: nested runs still going have lost their parent."""
        with self._lock:
            first = self.lifecycle.change(RunState.FINISHED)
            children = list(self.children)
        if first:
            self.output.finish(self.action)
        for child in children:
            child.cancel()
