"""``Executor``: run actions in sandboxed hosts, one ``Result`` per request."""

from __future__ import annotations

import difflib
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from protocol.endpoint import Handlers
from protocol.errors import FrameTooLarge, NestingTooDeep, QueueFull, RpcError
from protocol.framing import find_unencodable
from protocol.messages import (
    ActionContextModel,
    ActionInfo,
    ActionOutcome,
    LogParams,
    RunActionParams,
)
from protocol.methods import LOG, REUSE_ACTION
from protocol.redaction import Redactor, secret_values

from executor.environments.catalog import ActionCatalog, UnknownAction
from executor.config import ExecutorConfig
from executor.environments.model import Environment
from executor.environments.store import EnvironmentStore
from executor.environments.index import check_params
from executor.hosts.launcher import make_launcher
from executor.result import Result, error_result
from executor.hosts.session import HostSession, SessionFailed

log = logging.getLogger(__name__)
_MAX_LOG_LINES = 1000


@dataclass(eq=False)
class Call:
    """One action run in progress: what its host's calls back are checked against.

    Calls form a tree (an action reusing actions); a call that ends cancels
    the nested calls still running under it.
    """

    executor: Executor
    action: str
    context: ActionContextModel
    deadline: float | None
    depth: int
    redact: Redactor
    parent: Call | None = None
    logs: list[str] = field(default_factory=list)
    children: list[Call] = field(default_factory=list)
    session: HostSession | None = None
    cancelled: bool = False
    done: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def log(self, level: int, source: str, message: str) -> None:
        message = self.redact(message)
        if len(self.logs) < _MAX_LOG_LINES:
            self.logs.append(message)
        logging.getLogger(f"action.{self.action}").log(level, "%s", message)

    def attach(self, session: HostSession) -> bool:
        """Record the host running this call; False if the call was cancelled meanwhile."""
        with self._lock:
            self.session = session
            return not self.cancelled

    def cancel(self) -> None:
        """Kill this call's host and, through it, every nested call under it."""
        with self._lock:
            if self.done:
                return
            self.cancelled = True
            session, children = self.session, list(self.children)
        if session is not None:
            session.host.kill()
        for child in children:
            child.cancel()

    def spawn_child(self, action: str, params: dict[str, Any], deadline: float | None) -> Call:
        chain = [*self.context.execution.parent_actions, self.action]
        execution = self.context.execution.model_copy(update={"parent_actions": chain})
        child = Call(
            self.executor,
            action,
            ActionContextModel(security=self.context.security, execution=execution),
            deadline,
            self.depth + 1,
            Redactor([*self.redact.secrets, *secret_values(params)]),
            parent=self,
        )
        with self._lock:
            if self.cancelled or self.done:
                child.cancelled = True
            self.children.append(child)
        return child

    def finish(self) -> None:
        """The run is over: nested calls still running have lost their parent."""
        with self._lock:
            self.done = True
            children = list(self.children)
        for child in children:
            child.cancel()


host_calls: Handlers[Call] = Handlers()


@host_calls.register(LOG)
def on_log(call: Call, params: LogParams) -> None:
    call.log(params.level, params.logger, params.message)


@host_calls.register(REUSE_ACTION, background=True)
def on_reuse(call: Call, params: RunActionParams) -> ActionOutcome:
    """An action runs another action: same machinery, same caller, within its deadline.

    The security and execution contexts come from the executor's record of the
    calling run, never from what the calling host sends.
    """
    limit = call.executor.config.max_nesting_depth
    if call.depth + 1 > limit:
        chain = [*call.context.execution.parent_actions, call.action, params.action]
        raise NestingTooDeep(
            f"nesting too deep: {' -> '.join(chain)} would be {call.depth + 1} levels "
            f"of nested actions; the limit is {limit} (max_nesting_depth)",
            data={"chain": chain},
        )
    deadline = call.deadline
    if params.timeout is not None:
        own = time.monotonic() + params.timeout
        deadline = own if deadline is None else min(deadline, own)
    executor = call.executor
    if not executor._nested.acquire(blocking=False):  # a cap, not a queue: no deadlock
        raise QueueFull(
            f"too many nested actions running at once ({executor.config.max_nested_runs}, "
            f"max_nested_runs); {call.action} could not start {params.action}"
        )
    try:
        child = call.spawn_child(params.action, params.params, deadline)
        result = executor._execute(child, params.params, params.dry_run)
    finally:
        executor._nested.release()
    return ActionOutcome(
        data=result.data,
        error=result.error,
        cancel=result.cancel,
        error_type=result.error_type,
        is_sync=result.is_sync,
        host_pid=result.host_pid,
        timings=result.timings,
    )


class Executor:
    """Runs actions, each in its own sandboxed host process.

    ``run`` always returns exactly one ``Result``; it never raises for
    anything an action or its host does.
    """

    def __init__(self, config: ExecutorConfig | None = None, **overrides: Any) -> None:
        self.config = config or ExecutorConfig(**overrides)
        os.makedirs(self.config.state_dir, exist_ok=True)
        self.launcher = make_launcher(self.config, host_calls)
        self.store = EnvironmentStore(self.config.state_dir)
        self.catalog = ActionCatalog(self.config, self.store, on_change=self.launcher.forget)
        self.default_env = self.catalog.default
        self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
        self._nested = threading.BoundedSemaphore(self.config.max_nested_runs)
        self._admission = threading.Lock()
        self._waiting = 0
        self._closed = False

    # -- public API ----------------------------------------------------------

    def actions(self, refresh: bool = False) -> list[ActionInfo]:
        """Every action the executor can run (broken entry points included)."""
        return [info for _env, info in self.catalog.entries(refresh)]

    def install(
        self,
        env: str,
        specs: list[str],
        *,
        upgrade: bool = False,
        prefer: bool = False,
        progress: Callable[[str], None] | None = None,
        uv_args: Sequence[str] = (),
    ) -> list[ActionInfo]:
        """Install ``specs`` into environment ``env`` (created if needed), atomically.

        Refused, with the environment unchanged, when it would make an action
        name ambiguous and ``prefer`` is not set. See ``executor.catalog``.
        """
        store = EnvironmentStore(self.config.state_dir, uv_args=uv_args, progress=progress)
        _record, infos = store.install(
            env, specs, upgrade=upgrade, prefer=prefer, check_clashes=self.catalog.check_clashes
        )
        self.catalog.refresh(force=True)
        return infos

    def run(
        self,
        action: str,
        params: dict[str, Any] | None = None,
        *,
        context: ActionContextModel | dict[str, Any] | None = None,
        timeout: float | None = None,
        dry_run: bool = False,
    ) -> Result:
        """Run ``action`` with ``params``; ``timeout`` in seconds kills it when due."""
        started = time.monotonic()
        timeout = self.config.default_timeout if timeout is None else timeout
        deadline = None if timeout is None else started + timeout
        params = dict(params or {})
        try:
            ctx = ActionContextModel.model_validate(context or {})
        except ValidationError as exc:
            return error_result(action, f"invalid context: {exc}", "InvalidContext")
        problem = find_unencodable(params, "$.params")
        if problem:
            return error_result(
                action, f"invalid input for action {action!r}: {problem}", "InvalidInput"
            )
        if self._closed:
            return error_result(action, "the executor is shut down", "ExecutorClosed")
        admission = self._admit(timeout)
        if admission != "admitted":
            if admission == "full":
                return error_result(
                    action,
                    f"the executor's queue is full ({self.config.queue_size} requests "
                    f"waiting for {self.config.max_concurrency} slots); retry later or "
                    "raise queue_size / max_concurrency",
                    "QueueFull",
                )
            return error_result(
                action, f"timed out after {timeout} s waiting for a free slot", "Timeout"
            )
        queue_wait = time.monotonic() - started
        redact = Redactor(secret_values(params, (ctx.security.auth_token, ctx.security.trust_id)))
        call = Call(self, action, ctx, deadline, 0, redact)
        try:
            result = self._execute(call, params, dry_run)
        finally:
            self._slots.release()
        result.timings["queue_wait"] = queue_wait
        result.timings["total"] = time.monotonic() - started
        return result

    def _admit(self, timeout: float | None) -> str:
        """Take a run slot, waiting in the bounded queue if none is free.

        Returns "admitted", "full" (the queue is full: refused at once) or
        "timeout" (waited the whole timeout for a slot).
        """
        if self._slots.acquire(blocking=False):
            return "admitted"
        with self._admission:
            if self._waiting >= self.config.queue_size:
                return "full"
            self._waiting += 1
        try:
            return "admitted" if self._slots.acquire(timeout=timeout) else "timeout"
        finally:
            with self._admission:
                self._waiting -= 1

    def close(self) -> None:
        self._closed = True
        self.launcher.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals -----------------------------------------------------------

    def _resolve(self, action: str) -> tuple[Environment, ActionInfo | None]:
        try:
            return self.catalog.resolve(action)
        except UnknownAction as exc:
            if exc.args and exc.args[0] == action:
                return self.default_env, None
            raise

    def _execute(self, call: Call, params: dict[str, Any], dry_run: bool) -> Result:
        result = self._execute_unredacted(call, params, dry_run)
        if isinstance(result.error, str):
            result.error = call.redact(result.error)
        return result

    def _execute_unredacted(self, call: Call, params: dict[str, Any], dry_run: bool) -> Result:
        action = call.action
        try:
            env, info = self._resolve(action)
        except UnknownAction as exc:
            return error_result(action, str(exc), "ActionNotFound")
        except Exception as exc:
            return error_result(action, f"cannot list actions: {exc}", "IndexError")
        if info is None:
            return error_result(action, self._unknown_action(action), "ActionNotFound")
        if info.error is not None:
            return error_result(
                action,
                f"action {action!r} cannot be loaded in environment {env.name!r}: {info.error}",
                "ActionLoadError",
            )
        problem = check_params(info, params)
        if problem is not None:
            return error_result(action, problem, "InvalidInput")
        if call.cancelled:
            return error_result(action, "cancelled: the calling action ended", "Cancelled")

        t0 = time.monotonic()
        try:
            session = self.launcher.acquire(env, call.deadline)
        except SessionFailed as failure:
            return error_result(action, f"action host failed to start: {failure}", "HostCrashed")
        except Exception as exc:
            if call.deadline is not None and time.monotonic() >= call.deadline:
                return error_result(
                    action,
                    f"action {action!r} timed out before a host could start: {exc}",
                    "Timeout",
                )
            if self._closed:
                return error_result(action, "the executor is shut down", "ExecutorClosed")
            return error_result(action, f"could not start an action host: {exc}", "HostStartFailed")
        session.bind(call, call.log)
        try:
            if not call.attach(session):
                session.host.kill()
                return error_result(action, "cancelled: the calling action ended", "Cancelled")
            result = self._converse(session, call, info.name, params, dry_run, t0)
        finally:
            call.finish()
            session.release()
        result.logs = call.logs
        return result

    def _converse(
        self,
        session: HostSession,
        call: Call,
        entry_point: str,
        params: dict[str, Any],
        dry_run: bool,
        t0: float,
    ) -> Result:
        action = call.action
        t_ready = time.monotonic()
        remaining = None if call.deadline is None else call.deadline - t_ready
        if remaining is not None and remaining <= 0:  # nothing is sent past the deadline
            session.host.kill()
            return error_result(
                action,
                f"action {action!r} timed out after {t_ready - t0:.3g} s before it could run",
                "Timeout",
            )
        request = RunActionParams(
            action=entry_point,
            params=params,
            context=call.context,
            dry_run=dry_run,
            timeout=remaining,
            max_result_size=self.config.max_result_size,
        )
        try:
            outcome = session.run(request, call.deadline, self.config.cancel_grace)
        except FrameTooLarge as exc:  # our own request: nothing was sent
            session.host.kill()
            return error_result(
                action,
                f"invalid input for action {action!r}: the request is {exc.size} bytes "
                f"encoded, more than max_frame_size ({exc.limit} bytes); pass less data, "
                "or raise max_frame_size",
                "InvalidInput",
            )
        except SessionFailed as failure:
            if call.cancelled and failure.kind != "timeout":
                return error_result(
                    action,
                    f"cancelled: the calling action ended, so its host (pid "
                    f"{session.host.pid}) was killed",
                    "Cancelled",
                    host_pid=session.host.pid,
                )
            if failure.kind == "timeout":
                waited = time.monotonic() - t0
                return error_result(
                    action,
                    f"action {action!r} timed out after {waited:.3g} s: {failure}",
                    "Timeout",
                    host_pid=session.host.pid,
                )
            return error_result(action, str(failure), "HostCrashed", host_pid=session.host.pid)
        except RpcError as exc:
            return error_result(action, exc.message, type(exc).__name__, host_pid=session.host.pid)
        t_done = time.monotonic()
        inside = sum(outcome.timings.values())
        timings = {
            "host_start": t_ready - t0,
            **outcome.timings,
            "transfer": max(0.0, (t_done - t_ready) - inside),
        }
        return Result(
            data=outcome.data,
            error=outcome.error,
            cancel=outcome.cancel,
            action=action,
            error_type=outcome.error_type,
            is_sync=outcome.is_sync,
            host_pid=outcome.host_pid,
            timings=timings,
        )

    def _unknown_action(self, action: str) -> str:
        names = [a.name for a in self.actions()]
        close = difflib.get_close_matches(action, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return (
            f"unknown action {action!r}{hint} ('action-executor actions' lists the "
            f"{len(names)} available actions)"
        )
