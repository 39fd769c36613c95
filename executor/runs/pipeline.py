"""The per-run path: resolve -> check params -> acquire a host -> converse.

Every step that can fail ends the run with one error ``Result`` of a named
``ErrorKind``; nothing a host does can make this code raise.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from executor.config import ExecutorConfig
from executor.deadline import Deadline
from executor.environments.catalog import ActionCatalog, UnknownAction
from executor.environments.model import Environment
from executor.environments.params import check_params
from executor.errors import ErrorKind, ExecutorError
from executor.hosts.launcher import Launcher
from executor.hosts.session import Failure, HostSession, SessionFailed
from executor.result import Result, error_result
from executor.runs.host_calls import Binding
from executor.runs.tree import Run
from protocol.errors import ActionNotFound, FrameTooLarge, QueueFull, RpcError, VersionMismatch
from protocol.messages import ActionInstanceModel, ActionOutcome, RunActionParams
from protocol.suggest import did_you_mean

_FAILURE_KINDS = {
    "raised": ErrorKind.ACTION_RAISED,
    "load_error": ErrorKind.ACTION_LOAD_ERROR,
    "result_too_large": ErrorKind.RESULT_TOO_LARGE,
    "not_serializable": ErrorKind.NOT_SERIALIZABLE,
}


class Pipeline:
    """Runs one ``Run`` to its Result; shared by top-level and nested runs."""

    def __init__(
        self,
        config: ExecutorConfig,
        catalog: ActionCatalog,
        launcher: Launcher,
        closed: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.catalog = catalog
        self.launcher = launcher
        #: True once the executor's grace for runs in flight is over: a run
        #: stopped then ends ``ExecutorClosed``, not ``Cancelled``.
        self.closed = closed
        self._nested = threading.BoundedSemaphore(config.max_nested_runs)

    def run_nested(self, run: Run, params: dict[str, Any], dry_run: bool) -> Result:
        """A nested run: capped, never queued (a queue here could deadlock)."""
        if not self._nested.acquire(blocking=False):
            raise QueueFull(
                f"too many nested actions running at once ({self.config.max_nested_runs}, "
                f"max_nested_runs); {run.parent.action if run.parent else '?'} could not "
                f"start {run.action}"
            )
        try:
            return self.execute(run, params, dry_run)
        finally:
            self._nested.release()

    def execute(
        self,
        run: Run,
        params: dict[str, Any],
        dry_run: bool,
        instance: tuple[str, ActionInstanceModel] | None = None,
    ) -> Result:
        """Run to a Result; errors are redacted of the run's secrets."""
        result = self._execute(run, params, dry_run, instance)
        if isinstance(result.error, str):
            result.error = run.redact(result.error)
        return result

    def _execute(
        self,
        run: Run,
        params: dict[str, Any],
        dry_run: bool,
        instance: tuple[str, ActionInstanceModel] | None,
    ) -> Result:
        action = run.action
        try:
            if instance is None:
                env, info = self.catalog.resolve(action)
            else:
                env, info = self.catalog.resolve_class(instance[0], instance[1].class_attrs)
                run.action = action = info.name
        except UnknownAction as exc:
            message = self._unknown_action(action) if exc.plain_name else str(exc)
            return error_result(action, message, ErrorKind.ACTION_NOT_FOUND)
        except Exception as exc:
            return error_result(
                action, f"cannot list actions: {exc}", ErrorKind.CATALOG_UNAVAILABLE
            )
        if info.error is not None:
            return error_result(
                action,
                f"action {action!r} cannot be loaded in environment {env.name!r}: {info.error}",
                ErrorKind.ACTION_LOAD_ERROR,
            )
        if instance is None:
            problem = check_params(info, params)
            if problem is not None:
                return error_result(action, problem, ErrorKind.INVALID_INPUT)
        if run.cancelled:
            return self._cancelled(run)
        # Built once the host is ready, with the time left (see ``_converse``).
        request: dict[str, Any] = {
            "action": info.name,
            "params": params,
            "context": run.context,
            "dry_run": dry_run,
            "max_result_size": self.config.max_result_size,
            "instance": None if instance is None else instance[1],
        }
        return self._on_host(run, env, request)

    def _on_host(self, run: Run, env: Environment, request: dict[str, Any]) -> Result:
        action = run.action
        t0 = time.monotonic()
        # Getting a host may take the run's timeout once more (a template's
        # first start excluded, see the fork launcher); the run's own clock
        # starts when the host is ready (``Run.arm``).
        start_deadline = Deadline.after(run.timeout)
        policy = self.config.sandbox_for(env.name)
        if run.parent is not None:
            start_deadline = start_deadline.earliest(run.parent.deadline)
            if run.parent.policy is not None:  # never wider than its caller's
                policy = policy.stricter(run.parent.policy)
        run.policy = policy
        try:
            session = self.launcher.acquire(env, start_deadline, policy)
        except Exception as exc:
            return self._not_started(action, exc, start_deadline)
        session.bind(Binding(run, self), run.log)
        try:
            if not run.attach(session):
                session.host.kill()
                return self._cancelled(run)
            result = self._converse(session, run, request, t0)
            result = _with_usage(result, session)
            if result.error_type in (None, ErrorKind.ACTION_ERROR, ErrorKind.ACTION_RAISED):
                # its code imported and ran: keep it loaded (fork: the template)
                self.launcher.loaded(env, request["action"])
        finally:
            run.finish()
            session.release()
        result.logs = run.logs
        return result

    def _not_started(self, action: str, exc: Exception, deadline: Deadline) -> Result:
        """No host for the run: the error's own kind, except that a host whose
        handshake failed is a start failure (``SessionFailed`` describes a run
        in progress), and a run whose start outlived its deadline timed out.
        A runtime of another protocol version refuses the handshake: that is
        ``VersionMismatch``, which names both versions."""
        if isinstance(exc, SessionFailed):
            return error_result(
                action, f"action host failed to start: {exc}", ErrorKind.HOST_START_FAILED
            )
        if deadline.expired():
            return error_result(
                action,
                f"action {action!r} timed out before a host could start: {exc}",
                ErrorKind.TIMEOUT,
            )
        exception = None
        if isinstance(exc, ExecutorError):
            kind, exception = exc.kind, type(exc).__name__  # which refusal (the metrics count them)
        elif isinstance(exc, VersionMismatch):  # the environment's runtime refused us
            kind = ErrorKind.VERSION_MISMATCH
        else:  # the machine's own refusal (out of descriptors, ...)
            kind = ErrorKind.EXECUTOR_CLOSED if self.closed() else ErrorKind.HOST_START_FAILED
        if kind is ErrorKind.EXECUTOR_CLOSED:
            return error_result(action, "the executor is shut down", kind)
        return error_result(
            action, f"could not start an action host: {exc}", kind, exception=exception
        )

    def _converse(
        self, session: HostSession, run: Run, request: dict[str, Any], t0: float
    ) -> Result:
        action = run.action
        t_ready = time.monotonic()
        run.arm()
        if run.deadline.expired():  # nothing is sent past the deadline (a nested run's parent's)
            session.host.kill()
            return error_result(
                action,
                f"action {action!r} timed out after {t_ready - t0:.3g} s before it could run",
                ErrorKind.TIMEOUT,
            )
        params = RunActionParams(**request, timeout=run.deadline.remaining())
        host_pid = session.host.pid
        try:
            outcome = session.run(params, run.deadline, self.config.cancel_grace)
        except FrameTooLarge as exc:  # our own request: nothing was sent
            session.host.kill()
            return error_result(
                action,
                f"invalid input for action {action!r}: the request is {exc.size} bytes "
                f"encoded, more than max_frame_size ({exc.limit} bytes); pass less data, "
                "or raise max_frame_size",
                ErrorKind.INVALID_INPUT,
            )
        except SessionFailed as failure:
            return self._failed(run, failure, host_pid, t0)
        except RpcError as exc:
            return error_result(action, exc.message, _rpc_kind(exc), host_pid=host_pid)
        return self._result(run, outcome, t0, t_ready, host_pid)

    def _failed(self, run: Run, failure: SessionFailed, host_pid: int, t0: float) -> Result:
        action = run.action
        if run.cancelled and failure.failure is not Failure.TIMEOUT:
            return self._cancelled(run, host_pid)
        if failure.failure is Failure.TIMEOUT:
            if run.timeout is not None and not run.limited_by_parent:
                why = f"timed out after {run.timeout:g} s (its timeout)"
            else:
                why = "timed out: the calling action's deadline passed"
            return error_result(
                action,
                f"action {action!r} {why}: {failure}",
                ErrorKind.TIMEOUT,
                host_pid=host_pid,
            )
        return error_result(action, str(failure), failure.kind, host_pid=host_pid)

    def _cancelled(self, run: Run, host_pid: int | None = None) -> Result:
        """The run was stopped from outside: its caller ended, or the executor closed."""
        killed = "" if host_pid is None else f", so its host (pid {host_pid}) was killed"
        kind = ErrorKind.EXECUTOR_CLOSED if self.closed() else ErrorKind.CANCELLED
        return error_result(
            run.action, f"cancelled: {run.cancel_reason}{killed}", kind, host_pid=host_pid
        )

    @staticmethod
    def _result(
        run: Run, outcome: ActionOutcome, t0: float, t_ready: float, host_pid: int
    ) -> Result:
        """The host's answer as a Result; ``host_pid`` as the executor sees it (a
        sandboxed host is pid 1 of its own namespace)."""
        inside = sum(outcome.timings.values())
        timings = {
            "host_start": t_ready - t0,
            **outcome.timings,
            "transfer": max(0.0, (time.monotonic() - t_ready) - inside),
        }
        kind = None
        if outcome.failure is not None:
            kind = _FAILURE_KINDS[outcome.failure]
        elif outcome.error is not None and not outcome.cancel:
            kind = ErrorKind.ACTION_ERROR
        return Result(
            data=outcome.data,
            error=outcome.error,
            cancel=outcome.cancel,
            action=run.action,
            error_type=kind,
            exception=outcome.exception,
            is_sync=outcome.is_sync,
            host_pid=host_pid,
            timings=timings,
        )

    def _unknown_action(self, action: str) -> str:
        names = [info.name for _env, info in self.catalog.entries()]
        return (
            f"unknown action {action!r}{did_you_mean(action, names, n=3)} "
            "('action-executor actions' lists the "
            f"{len(names)} available actions)"
        )


def _with_usage(result: Result, session: HostSession) -> Result:
    """What the action's cgroup counted; an action whose processes the kernel
    killed for exceeding its memory limit fails for that, whatever it answered
    (cgroup v2 kills the whole action at once; on v1 only some processes die,
    and the run must not look sound)."""
    sandbox = getattr(session.host, "sandbox", None)
    slot = getattr(sandbox, "slot", None)
    if slot is None:
        return result
    try:
        usage = slot.usage()
    except OSError:
        return result
    result.peak_memory = usage.peak_memory
    result.cpu_time = usage.cpu_seconds
    if usage.oom_kills and result.error_type is not ErrorKind.TIMEOUT:
        limit = _mib(slot.memory_limit) if slot.memory_limit else "its limit"
        peak = f"; peak {_mib(usage.peak_memory)}" if usage.peak_memory else ""
        result = error_result(
            result.action,
            f"action {result.action!r} exceeded its memory limit of {limit}{peak}: the "
            f"kernel killed {usage.oom_kills} of its processes. Raise [sandbox] "
            "memory_limit (SandboxPolicy.memory_limit) if it needs more",
            ErrorKind.MEMORY_LIMIT_EXCEEDED,
            host_pid=result.host_pid,
            timings=result.timings,
            peak_memory=usage.peak_memory,
            cpu_time=usage.cpu_seconds,
        )
    return result


def _mib(n: int | None) -> str:
    return f"{(n or 0) / 1024**2:.1f} MiB"


def _rpc_kind(exc: RpcError) -> ErrorKind:
    if isinstance(exc, ActionNotFound):
        return ErrorKind.ACTION_NOT_FOUND
    if isinstance(exc, VersionMismatch):
        return ErrorKind.VERSION_MISMATCH
    return ErrorKind.PROTOCOL_ERROR
