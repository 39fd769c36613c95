"""``Executor``: run actions in sandboxed hosts, one ``Result`` per request.

The facade over the data path: admission (``runs.admission``), the run
pipeline (``runs.pipeline``), the launcher (``hosts``) and the environments
(``environments``). Building one does no I/O; ``start()`` (or ``with``, or
the first ``run``) starts the launcher's threads.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from executor.config import ExecutorConfig
from executor.environments.catalog import ActionCatalog
from executor.environments.store import EnvironmentStore
from executor.errors import ErrorKind
from executor.hosts import make_launcher
from executor.hosts.launcher import LauncherStats
from executor.layout import StateLayout
from executor.lifecycle import Lifecycle
from executor.result import Result, error_result, limit_error
from executor.runs.admission import Admission, Admitter
from executor.runs.host_calls import host_calls
from executor.runs.output import OutputLimits
from executor.runs.pipeline import Pipeline
from executor.runs.tree import Run
from executor.sandbox.policy import SandboxUnavailable, sweep_workdirs
from executor.sandbox.runtime import SandboxRuntime
from protocol.framing import find_unencodable
from protocol.messages import ActionContextModel, ActionInfo, ActionInstanceModel

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionInstance:
    """An action object as Mistral's engine serializes it (mistral-lib's
    ``{cls, cls_attrs, data}``): the host rebuilds it without calling ``__init__``."""

    #: Dotted path of the class, e.g. ``mistral.actions.std_actions.EchoAction``.
    class_path: str
    #: Instance attributes (``vars(action)``).
    data: dict[str, Any] = field(default_factory=dict)
    #: Class attributes; when given the host builds a subclass holding them.
    class_attrs: dict[str, Any] = field(default_factory=dict)


ContextT = ActionContextModel | dict[str, Any] | Any | None


class ExecutorState(enum.Enum):
    NEW = "new"  # built; nothing started (no I/O yet)
    STARTED = "started"  # state directories made, sandbox probed, launcher running
    CLOSING = "closing"  # no new runs; runs in flight may finish (the grace)
    KILLING = "killing"  # the grace is over: runs still going end ExecutorClosed
    CLOSED = "closed"  # hosts, templates and the sandbox are gone


EXECUTOR_MOVES: dict[ExecutorState, frozenset[ExecutorState]] = {
    ExecutorState.NEW: frozenset({ExecutorState.STARTED, ExecutorState.CLOSING}),
    ExecutorState.STARTED: frozenset({ExecutorState.CLOSING}),
    ExecutorState.CLOSING: frozenset({ExecutorState.KILLING}),
    ExecutorState.KILLING: frozenset({ExecutorState.CLOSED}),
    ExecutorState.CLOSED: frozenset(),
}
#: States in which ``run`` still takes new work.
_OPEN = (ExecutorState.NEW, ExecutorState.STARTED)


class Executor:
    """Runs actions, each in its own sandboxed host process.

    ``run`` always returns exactly one ``Result``; it never raises for
    anything an action or its host does.
    """

    def __init__(self, config: ExecutorConfig | None = None, **overrides: Any) -> None:
        self.config = config or ExecutorConfig(**overrides)
        self.layout = StateLayout(self.config.state_dir)
        self.sandbox = SandboxRuntime(self.layout, hide=self.config.hidden_paths)
        self.launcher = make_launcher(self.config, host_calls, self.sandbox)
        self.store = EnvironmentStore(self.config.state_dir)
        self.catalog = ActionCatalog(
            self.config, self.store, on_change=self.launcher.forget, runtime=self.sandbox
        )
        self.default_env = self.catalog.default
        self.lifecycle = Lifecycle(
            "executor", ExecutorState.NEW, EXECUTOR_MOVES, final=(ExecutorState.CLOSED,)
        )
        self.pipeline = Pipeline(self.config, self.catalog, self.launcher, self._grace_over)
        self._admitter = Admitter(self.config.max_concurrency, self.config.queue_size)
        #: Held while starting: a close waits for a start in progress to end.
        self._start_lock = threading.Lock()
        #: Top-level runs in progress (what ``close`` must end).
        self._active: set[Run] = set()
        self._idle = threading.Condition()

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> Executor:
        """Create the state directories and start the launcher (idempotent)."""
        with self._start_lock:
            if self.lifecycle.state is ExecutorState.NEW:
                self.layout.ensure()
                # Probe the sandbox now: a policy this machine cannot enforce
                # refuses here (SandboxUnavailable), naming what lowers it.
                self.sandbox.start((self.config.sandbox, *self.config.sandbox_by_env.values()))
                sweep_workdirs(self.layout.work)
                self.launcher.start()
                self.lifecycle.change(ExecutorState.STARTED)
                if self.config.prestart_templates:
                    threading.Thread(
                        target=self._prestart, name="template-prestart", daemon=True
                    ).start()
        return self

    def _prestart(self) -> None:
        """Warm every environment up now, so no run waits for a template's
        imports (a run's timeout never counts them anyway, see ``Run.arm``)."""
        try:
            self.catalog.refresh()
            envs = list(self.catalog.envs.values())
        except Exception as exc:
            log.warning("cannot list environments to start their templates: %s", exc)
            return
        for env in envs:
            if self.lifecycle.state is not ExecutorState.STARTED:
                return
            try:
                self.launcher.prepare(env)
            except Exception as exc:  # the first run of it will say why, too
                log.warning("could not start the template of %s: %s", env.name, exc)

    def close(self, grace: float | None = None) -> None:
        """Refuse new runs, let runs in flight finish for ``grace`` seconds
        (``config.close_timeout`` by default), then kill what still runs: each
        of those runs returns an ``ExecutorClosed`` error Result. Then stop
        every host and template. A second close waits for the first."""
        grace = self.config.close_timeout if grace is None else grace
        with self._start_lock:
            launched = self.lifecycle.state is ExecutorState.STARTED
            if not self.lifecycle.change(ExecutorState.CLOSING, only_from=_OPEN):
                self.lifecycle.wait_for(
                    {ExecutorState.CLOSED}, grace + 10.0 + self.config.close_timeout
                )
                return
        try:
            with self._idle:
                self._idle.wait_for(lambda: not self._active, timeout=grace)
                remaining = list(self._active)
            self.lifecycle.change(ExecutorState.KILLING)
            for run in remaining:
                run.cancel("the executor was shut down")
            with self._idle:  # their Results are being written; bounded
                self._idle.wait_for(lambda: not self._active, timeout=10.0)
            if launched:
                self.launcher.close()
            self.sandbox.close()
        finally:
            self.lifecycle.change(ExecutorState.CLOSED, only_from=(ExecutorState.KILLING,))

    def _grace_over(self) -> bool:
        return self.lifecycle.state in (ExecutorState.KILLING, ExecutorState.CLOSED)

    def __enter__(self) -> Executor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ----------------------------------------------------------

    def actions(self, refresh: bool = False) -> list[ActionInfo]:
        """Every action the executor can run (broken entry points included)."""
        return [info for _env, info in self.catalog.entries(refresh)]

    def stats(self) -> LauncherStats:
        """What the launcher holds now (templates, spares, teardown backlog)."""
        return self.launcher.stats()

    def install(
        self,
        env: str,
        specs: list[str],
        *,
        upgrade: bool = False,
        prefer: bool = False,
        progress: Callable[[str], None] | None = None,
        uv_args: Sequence[str] = (),
        strict: bool = False,
    ) -> list[ActionInfo]:
        """Install ``specs`` into environment ``env`` (created if needed), atomically.

        Refused, with the environment unchanged, when it would make an action
        name ambiguous and ``prefer`` is not set, or with ``strict`` when the
        build registers no working action or entry points in a misspelt group.
        See ``environments.catalog`` and ``environments.store``.
        """
        store = EnvironmentStore(
            self.config.state_dir,
            uv_args=uv_args,
            progress=progress,
            config_files=self.config.host_config_files,
            runtime=self.sandbox,
            policy=self.config.sandbox_for(env),
        )
        _record, infos = store.install(
            env,
            specs,
            upgrade=upgrade,
            prefer=prefer,
            check_clashes=self.catalog.check_clashes,
            strict=strict,
        )
        self.catalog.refresh(force=True)
        return infos

    def run(
        self,
        action: str,
        params: dict[str, Any] | None = None,
        *,
        context: ContextT = None,
        timeout: float | None = None,
        dry_run: bool = False,
    ) -> Result:
        """Run ``action`` with ``params``; ``timeout`` in seconds kills it when due."""
        return self._submit(action, dict(params or {}), context, timeout, dry_run, None)

    def run_instance(
        self, instance: ActionInstance, *, context: ContextT = None, timeout: float | None = None
    ) -> Result:
        """Run an action object serialized by Mistral's engine (see ``ActionInstance``).

        The environment whose index provides ``instance.class_path`` runs it;
        Mistral's std classes run on our std actions.
        """
        problem = find_unencodable(instance.data, "$.data") or find_unencodable(
            instance.class_attrs, "$.class_attrs"
        )
        if problem:
            return error_result(
                instance.class_path,
                f"invalid action object {instance.class_path!r}: {problem}",
                ErrorKind.INVALID_INPUT,
            )
        model = ActionInstanceModel(class_attrs=instance.class_attrs, data=instance.data)
        return self._submit(
            instance.class_path, {}, context, timeout, False, (instance.class_path, model)
        )

    # -- internals -----------------------------------------------------------

    def _submit(
        self,
        action: str,
        params: dict[str, Any],
        context: ContextT,
        timeout: float | None,
        dry_run: bool,
        instance: tuple[str, ActionInstanceModel] | None,
    ) -> Result:
        started = time.monotonic()
        checked = self._check(action, params, context, timeout)
        if isinstance(checked, Result):
            return checked
        ctx, timeout = checked
        run = Run.root(action, ctx, params, timeout, OutputLimits.of(self.config))
        refused = self._admit(run, timeout)
        if refused is not None:
            return refused
        queue_wait = time.monotonic() - started
        result = self._run_admitted(
            run, lambda: self.pipeline.execute(run, params, dry_run, instance)
        )
        result.logs_dropped = run.output.dropped_lines
        result.logs_dropped_bytes = run.output.dropped_bytes
        limit_error(result, self.config.max_result_size)
        result.timings["queue_wait"] = queue_wait
        result.timings["total"] = time.monotonic() - started
        return result

    def _check(
        self, action: str, params: dict[str, Any], context: ContextT, timeout: float | None
    ) -> Result | tuple[ActionContextModel, float | None]:
        """The request's context and timeout, or the error Result that refuses
        it before it takes a slot (bad input, a closed executor, no sandbox)."""
        problem = timeout_problem(timeout)
        if problem:
            return error_result(action, problem, ErrorKind.INVALID_INPUT)
        try:
            ctx = _context_model(context)
        except ValidationError as exc:
            return error_result(action, f"invalid context: {exc}", ErrorKind.INVALID_CONTEXT)
        problem = _context_problem(ctx)
        if problem:
            return error_result(action, f"invalid context: {problem}", ErrorKind.INVALID_CONTEXT)
        problem = find_unencodable(params, "$.params")
        if problem:
            return error_result(
                action, f"invalid input for action {action!r}: {problem}", ErrorKind.INVALID_INPUT
            )
        if self.lifecycle.state not in _OPEN:
            return error_result(action, "the executor is shut down", ErrorKind.EXECUTOR_CLOSED)
        try:
            self.start()
        except SandboxUnavailable as exc:
            return error_result(action, str(exc), exc.kind, exception=type(exc).__name__)
        return ctx, self.config.default_timeout if timeout is None else timeout

    def _admit(self, run: Run, timeout: float | None) -> Result | None:
        """A slot for ``run`` (None), or why it gets none."""
        admission = self._admitter.admit(run.deadline)
        if admission is Admission.QUEUE_FULL:
            return error_result(
                run.action,
                f"the executor's queue is full ({self.config.queue_size} requests "
                f"waiting for {self.config.max_concurrency} slots); retry later or "
                "raise queue_size / max_concurrency",
                ErrorKind.QUEUE_FULL,
            )
        if admission is Admission.TIMED_OUT:
            return error_result(
                run.action,
                f"timed out after {timeout} s waiting for a free slot",
                ErrorKind.TIMEOUT,
            )
        return None

    def _run_admitted(self, run: Run, execute: Callable[[], Result]) -> Result:
        """An admitted run to its Result; its slot is given back whatever happens."""
        with self._idle:
            self._active.add(run)
        try:
            if self._grace_over():
                return error_result(
                    run.action, "the executor is shut down", ErrorKind.EXECUTOR_CLOSED
                )
            return execute()
        finally:
            self._admitter.release()
            with self._idle:
                self._active.discard(run)
                self._idle.notify_all()


def timeout_problem(timeout: Any) -> str | None:
    """Why ``timeout`` is no run's timeout (None: no timeout given), or None.

    NaN never expires yet leaves no time; infinity overflows every wait;
    zero or less leaves no time to start: each would harm more than its run.
    """
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        return f"timeout must be a number of seconds, got {timeout!r}"
    if not math.isfinite(timeout) or timeout <= 0:
        return f"timeout must be a finite number of seconds above 0, got {timeout!r}"
    return None


def _context_problem(ctx: ActionContextModel) -> str | None:
    """The context's free-form fields must be sendable (no cycle, not too deep)."""
    return find_unencodable(
        ctx.security.service_catalog, "$.context.security.service_catalog"
    ) or find_unencodable(
        ctx.execution.workflow_propagated_headers,
        "$.context.execution.workflow_propagated_headers",
    )


def _context_model(context: ContextT) -> ActionContextModel:
    """The wire model of a context given as the model, a dict, or actions_api's type."""
    if context is None:
        return ActionContextModel()
    if isinstance(context, ActionContextModel):
        return context
    if isinstance(context, dict):
        return ActionContextModel.model_validate(context)
    to_dict = getattr(context, "to_dict", None)  # actions_api.ActionContext
    if callable(to_dict):
        return ActionContextModel.model_validate(to_dict())
    return ActionContextModel.model_validate(context)
