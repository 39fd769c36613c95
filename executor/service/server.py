"""``ExecutorService``: the life of a Mistral executor built on ``Executor``.

Flow of one ``run_action``: the endpoint decodes and journals it, queues it
under the executor's own limit (``max_concurrency`` workers, ``queue_size``
waiting) and returns (a cast) or waits for its Result (a call). A worker
reports it running, runs it with ``Executor.run_instance``, journals the
message owed to the engine and hands it to the delivery threads, which send
it (retrying while the broker or the engine is away) and clear the journal.

Stopping (SIGTERM/SIGINT): cancel the consumers (the broker keeps what it
has not delivered), fail back what was accepted and has not started,
give the running actions ``shutdown_grace_period``, then kill them (they are
reported as errors), deliver for at most ``shutdown_delivery_timeout``, and
exit; a watchdog ends the process if anything still hangs. Starting again
finishes what the journal holds.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_messaging.rpc import dispatcher

from executor import ActionInstance, ErrorKind, Executor, ExecutorConfig, Result
from executor.layout import StateLayout
from executor.service import settings, wire
from executor.service.endpoint import ExecutorEndpoint, RpcServer
from executor.service.engine import EngineClient, Raw, WireSerializer, admin_context
from executor.service.heartbeat import Heartbeat
from executor.service.journal import FINISHED, STARTED, Entry, Journal, JournalError
from protocol.exit_codes import CommandExit

log = logging.getLogger(__name__)

SECURITY_FIELDS = (
    "auth_cacert",
    "auth_token",
    "auth_uri",
    "expires_at",
    "insecure",
    "is_target",
    "is_trust_scoped",
    "project_id",
    "project_name",
    "redelivered",
    "region_name",
    "service_catalog",
    "trust_id",
    "user_name",
)
EXECUTION_FIELDS = (
    "workflow_execution_id",
    "task_execution_id",
    "action_execution_id",
    "workflow_name",
    "callback_url",
    "with_items_index",
    "task_rerun_no",
    "task_rerun_id",
    "workflow_propagated_headers",
)
CAST, CALL, NONE = "cast", "call", "none"
RECENT_IDS = 10_000  # finished ids remembered: a redelivery after they left the journal
_STOP = object()


@dataclass(eq=False)
class Job:
    """One accepted ``run_action``; ``args`` are the wire texts as received."""

    seq: int | None
    ctx: dict[str, Any]
    args: dict[str, Any]
    action_ex_id: str | None
    safe_rerun: bool
    rerun: bool = False  # re-run after a restart: the action may have run before
    reply: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    _claim: threading.Lock = field(default_factory=threading.Lock)
    _claimed: bool = False

    def claim(self) -> bool:
        """True once: only one outcome of a job is ever reported."""
        with self._claim:
            first, self._claimed = not self._claimed, True
            return first


@dataclass(frozen=True)
class Delivery:
    seq: int | None
    ctx: dict[str, Any]
    action_ex_id: str
    result: str | None
    call: bool


def mistral_error(
    action: str, action_ex_id: str | None, cause: Any, exception: str | None = None
) -> str:
    """Mistral's wording, so that operators' searches and alerts keep working:
    an exception's own message, without the ``<Type>: `` our results start with."""
    text = str(cause)
    if text.startswith("The action raised an exception ["):
        return text
    if exception is not None:
        text = text.removeprefix(f"{exception.rsplit('.', 1)[-1]}: ")
    return (
        f"The action raised an exception [action={action}, action_ex_id={action_ex_id}, "
        f"msg='{text}']"
    )


def security_context(ctx: dict[str, Any], redelivered: bool) -> dict[str, Any]:
    sec = {name: ctx.get(name) for name in SECURITY_FIELDS}
    sec["user_id"] = ctx.get("user_id") or ctx.get("user")  # oslo.context: "user"
    if sec["expires_at"] is not None:
        sec["expires_at"] = str(sec["expires_at"])
    if redelivered:
        sec["redelivered"] = True
    return sec


def execution_context(exec_ctx: Any, action_ex_id: str | None) -> dict[str, Any]:
    given = exec_ctx if isinstance(exec_ctx, dict) else {}
    out = {k: given[k] for k in EXECUTION_FIELDS if given.get(k) is not None}
    if action_ex_id and not out.get("action_execution_id"):
        out["action_execution_id"] = action_ex_id
    return out


def action_config_file(config: ExecutorConfig, host: str) -> str:
    """Where this service keeps the config file of its hosts: in the state
    directory (hidden from every host), one per service (``[executor] host``)."""
    name = f"action-config-{settings.safe_name(host)}.conf"
    return os.path.join(StateLayout(config.state_dir).service, name)


def with_action_config(config: ExecutorConfig, host: str) -> ExecutorConfig:
    """``config`` whose hosts get ``config.action_config`` as their first config file.

    Written at every start (mode 0600, replaced in one rename): the executor
    reads it when it starts a host and hands the host its content, never the
    path (``executor.sandbox.runtime``). Nothing to give: no file, and an old
    one is removed.
    """
    path = action_config_file(config, host)
    if not config.action_config:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return config
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(config.action_config)
    os.replace(tmp, path)
    return replace(config, host_config_files=(path, *config.host_config_files))


class ExecutorService:
    """One ``action-executor serve`` process: RPC server, workers, journal, heartbeats."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self.config = settings.executor_config(conf)
        self.settings = settings.ServiceSettings.from_conf(conf, self.config)
        self.config = with_action_config(self.config, self.settings.host)
        self.journal = Journal(self.settings.journal_file)
        self.executor: Executor | None = None
        self.transport: Any = None
        self.engine: EngineClient | None = None
        self.heartbeat: Heartbeat | None = None
        self._server: Any = None
        self._work: queue.Queue[Any] = queue.Queue()
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._senders: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._waiting = 0
        self._held: dict[str, int] = {}
        self._running: set[Job] = set()
        self._stopping = threading.Event()
        self._killing = threading.Event()
        self._delivery_deadline: float | None = None
        self._stopped = threading.Event()
        self._repeated_results = 0  # results sent again after an unanswered call
        self._accepting = threading.Lock()
        self._recent: OrderedDict[str, None] = OrderedDict()  # ids finished here, newest last
        self._uncleared: set[int] = set()  # delivered, but the journal could not forget them
        self._clears_retried_at = 0.0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        self.executor = Executor(self.config).start()
        self.transport = messaging.get_rpc_transport(self.conf)
        self.engine = EngineClient(self.transport, s.engine_topic, s.rpc_response_timeout)
        self.heartbeat = Heartbeat(self.engine, s.heartbeat_interval, self._held_ids)
        for i in range(s.delivery_workers):
            t = threading.Thread(target=self._send_loop, name=f"deliver-{i}", daemon=True)
            t.start()
            self._senders.append(t)
        for i in range(s.max_concurrency):
            t = threading.Thread(target=self._work_loop, name=f"worker-{i}", daemon=True)
            t.start()
            self._workers.append(t)
        self._recover()
        self.heartbeat.start()
        self._server = messaging.get_rpc_server(
            self.transport,
            messaging.Target(topic=s.executor_topic, server=s.host),
            [ExecutorEndpoint(self)],
            executor="threading",
            serializer=WireSerializer(),
            access_policy=dispatcher.DefaultRPCAccessPolicy,
            server_cls=RpcServer,
        )
        self._server.start()
        log.info(
            "executor %r listening on topic %r (engine topic %r), %d slots, queue %d, journal %s",
            s.host,
            s.executor_topic,
            s.engine_topic,
            s.max_concurrency,
            s.queue_size,
            s.journal_file,
        )

    def stop(self, grace: float | None = None) -> None:
        """Stop taking actions, let running ones finish within ``grace``, never hang."""
        s = self.settings
        grace = s.shutdown_grace_period if grace is None else grace
        self._stopping.set()
        deadline = time.monotonic() + grace
        if self._server is not None:
            log.info("stopping: no more actions are taken")
            self._server.stop_taking()
        self._fail_waiting()
        for _ in self._workers:
            self._work.put(_STOP)
        self._join(self._workers, deadline)
        if any(t.is_alive() for t in self._workers):
            log.warning(
                "stopping: %d action(s) still running after the %.3g s grace period; killing them",
                sum(t.is_alive() for t in self._workers),
                grace,
            )
            self._killing.set()
        if self.executor is not None:
            # Kills what still runs: their Results come back as errors.
            closer = threading.Thread(target=self.executor.close, daemon=True)
            closer.start()
            closer.join(timeout=2)
        self._join(self._workers, time.monotonic() + 2)
        with self._lock:
            left_running = list(self._running)
        for job in left_running:  # their hosts did not answer the kill in time
            self._refuse(
                job,
                "the executor was stopped and the action did not finish within "
                f"shutdown_grace_period={s.shutdown_grace_period:g} s; it was killed",
            )
        self._delivery_deadline = time.monotonic() + s.shutdown_delivery_timeout
        self._join(self._senders, self._delivery_deadline + 1)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self._server is not None:
            waiter = threading.Thread(target=self._server.finish, args=(3,), daemon=True)
            waiter.start()
            waiter.join(timeout=5)
        self._retry_clears()
        if self._uncleared:
            log.error(
                "stopping: %d delivered result(s) could not be removed from the journal; the "
                "next start sends them again (Mistral's engine ignores a second result)",
                len(self._uncleared),
            )
        try:
            left = len(self.journal)
        except JournalError as exc:
            log.error("stopping: %s", exc)
            left = 0
        if left:
            log.warning("stopping: %d run(s) stay in the journal for the next start", left)
        if self.transport is not None:
            self.transport.cleanup()
        self.journal.close()
        self._stopped.set()

    @staticmethod
    def _join(threads: list[threading.Thread], deadline: float) -> None:
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))

    # -- accepting -----------------------------------------------------------

    def submit(self, ctx: dict[str, Any], args: dict[str, Any], is_call: bool) -> Any:
        """Called by the endpoint in an oslo worker thread for every ``run_action``."""
        try:
            action_ex_id = wire.decode(args.get("action_ex_id"))
        except Exception as exc:
            log.error("run_action refused, nothing can be reported for it: %s", exc)
            return None
        problem = None
        if action_ex_id is not None and not isinstance(action_ex_id, str):
            problem = f"the action_ex_id is not a string: {wire.dumps(action_ex_id)[:100]}"
            action_ex_id = wire.dumps(action_ex_id)
        try:
            safe_rerun = bool(wire.decode(args.get("safe_rerun")))
        except Exception as exc:
            safe_rerun = False
            problem = problem or f"safe_rerun is not JSON text: {exc}"
        with self._accepting:  # two deliveries of one id: one passes the check
            if action_ex_id and not is_call and self._known(action_ex_id):
                log.warning(
                    "run_action for action_ex_id=%s again (queued, running or run here, or "
                    "redelivered by the broker): run once, its one result goes to the engine",
                    action_ex_id,
                )
                return None
            job = self._accept(ctx, args, action_ex_id, safe_rerun, problem)
        if not is_call:
            return None
        job.done.wait()
        return Raw(job.reply)

    def _known(self, action_ex_id: str) -> bool:
        if action_ex_id in self._held_ids() or action_ex_id in self._recent:
            return True
        try:
            return self.journal.holds(action_ex_id)
        except JournalError:
            return False

    def _accept(
        self,
        ctx: dict[str, Any],
        args: dict[str, Any],
        action_ex_id: str | None,
        safe_rerun: bool,
        problem: str | None,
    ) -> Job:
        """Journal, then queue or refuse: from here on the engine gets exactly one result."""
        seq = None
        journal_problem = None
        if action_ex_id:
            try:
                seq = self.journal.accept(action_ex_id, safe_rerun, ctx, args)
            except JournalError as exc:  # refused, not lost: the engine hears of it
                log.error("run_action for action_ex_id=%s refused: %s", action_ex_id, exc)
                journal_problem = str(exc)
        job = Job(seq, ctx, args, action_ex_id, safe_rerun)
        if journal_problem is not None:
            self._refuse(
                job,
                "the executor could not record the action in its journal, so it was not "
                f"started: {journal_problem}",
            )
        elif problem is not None:
            self._refuse(
                job,
                f"the engine sent an action this executor cannot read: {problem}",
                ErrorKind.INVALID_INPUT,
            )
        elif self._stopping.is_set():
            self._refuse(job, "the executor is stopping; the action was not started")
        elif not self._enqueue(job):
            self._refuse(
                job,
                f"the executor's queue is full ({self.settings.queue_size} actions waiting "
                f"for {self.settings.max_concurrency} slots); the action was not started",
                ErrorKind.QUEUE_FULL,
            )
        return job

    def _enqueue(self, job: Job) -> bool:
        with self._lock:
            if self._waiting >= self.settings.queue_size:
                return False
            self._waiting += 1
            if job.action_ex_id:
                self._held[job.action_ex_id] = self._held.get(job.action_ex_id, 0) + 1
        self._work.put(job)
        return True

    def _release(self, job: Job) -> None:
        if not job.action_ex_id:
            return
        with self._lock:
            left = self._held.get(job.action_ex_id, 0) - 1
            if left > 0:
                self._held[job.action_ex_id] = left
            else:
                self._held.pop(job.action_ex_id, None)

    def _held_ids(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def _refuse(self, job: Job, cause: str, kind: ErrorKind = ErrorKind.EXECUTOR_CLOSED) -> None:
        action = self._action_label(job)
        self._finish(job, Result(error=cause, error_type=kind, action=action), action)

    def _fail_waiting(self) -> None:
        """At shutdown: what waits for a slot is reported, never silently kept."""
        while True:
            try:
                job = self._work.get_nowait()
            except queue.Empty:
                return
            if job is _STOP:
                continue
            with self._lock:
                self._waiting -= 1
            self._release(job)
            self._refuse(job, "the executor stopped before the action started (nothing ran)")

    # -- running -------------------------------------------------------------

    def _work_loop(self) -> None:
        while True:
            job = self._work.get()
            if job is _STOP:
                return
            with self._lock:
                self._waiting -= 1
            try:
                self._run(job)
            except Exception as exc:  # never lose a job (or this worker) to one message
                log.exception("running action %s failed unexpectedly", job.action_ex_id)
                if not job.done.is_set():
                    self._refuse_safely(
                        job,
                        f"internal error in the executor service ({type(exc).__name__}); "
                        "see its log",
                    )
            finally:
                self._release(job)

    def _refuse_safely(self, job: Job, cause: str) -> None:
        """``_refuse`` that cannot take the calling thread down with it."""
        try:
            self._refuse(job, cause)
        except Exception:
            log.exception("could not report action %s as failed", job.action_ex_id)
            job.done.set()  # a waiting call must not wait forever

    def _action_label(self, job: Job) -> str:
        try:
            return wire.decode_action(job.args.get("action")).class_path
        except Exception:  # whatever the engine sent: never fail a report for it
            return "<undecodable action>"

    def _run(self, job: Job) -> None:
        with self._lock:
            self._running.add(job)
        try:
            self._run_job(job)
        finally:
            with self._lock:
                self._running.discard(job)

    def _run_job(self, job: Job) -> None:
        assert self.executor is not None and self.heartbeat is not None
        if job.seq is not None:
            try:
                self.journal.started(job.seq)
            except JournalError as exc:
                # Unrecorded, a crash would run it again: refuse rather than risk that.
                self._refuse(
                    job,
                    "the executor could not record the action's start in its journal, so it "
                    f"was not started: {exc}",
                )
                return
        try:
            action = wire.decode_action(job.args.get("action"))
            exec_ctx = wire.decode(job.args.get("exec_ctx"))
            seconds = wire.timeout_seconds(wire.decode(job.args.get("timeout")))
        except wire.WireError as exc:
            self._refuse(
                job,
                f"the engine sent an action this executor cannot read: {exc}",
                ErrorKind.INVALID_INPUT,
            )
            return
        self.heartbeat.started(job.ctx, job.action_ex_id)
        if job.ctx.get("redelivered") and not job.safe_rerun:
            cause = (
                "Request to run an action was redelivered, but it cannot be re-run safely. "
                f"The only safe thing to do is fail it [action={action.class_path}]."
            )
            self._finish(
                job, Result(error=cause, error_type=ErrorKind.EXECUTOR_CLOSED), action.class_path
            )
            return
        instance = ActionInstance(
            class_path=action.class_path, data=action.data, class_attrs=action.class_attrs
        )
        context = {
            "security": security_context(job.ctx, job.rerun),
            "execution": execution_context(exec_ctx, job.action_ex_id),
        }
        result = self.executor.run_instance(instance, context=context, timeout=seconds)
        if result.is_error() and self._killing.is_set():
            result.error = (
                f"{result.error} (the executor was stopped and the action did not finish "
                f"within shutdown_grace_period={self.settings.shutdown_grace_period:g} s)"
            )
        self._finish(job, result, result.action or action.class_path)

    def _finish(self, job: Job, result: Result, action: str) -> None:
        """Decide what the engine is owed (as Mistral's DefaultExecutor), journal it, send it."""
        if not job.claim():
            return
        if job.action_ex_id:
            with self._lock:
                self._recent[job.action_ex_id] = None
                while len(self._recent) > RECENT_IDS:
                    self._recent.popitem(last=False)
        if result.is_error() and result.error_type not in (None, ErrorKind.ACTION_ERROR):
            # Raised, timed out, crashed, refused: Mistral's send_error_back, a call.
            error = mistral_error(action, job.action_ex_id, result.error, result.exception)
            owed = wire.WireResult(error=error)
            call = True
            reply = None if job.action_ex_id else wire.encode(owed)
        else:
            # Returned (data, or its own error Result): a cast, unless async and fine.
            owed = wire.WireResult(result.data, result.error, result.cancel)
            call = False
            reply = wire.encode(owed)
            if not result.is_sync and not result.is_error():
                owed = None  # type: ignore[assignment,unused-ignore]
        text = None if owed is None else wire.encode(owed)
        delivery = NONE if (owed is None or not job.action_ex_id) else (CALL if call else CAST)
        log.info(
            "action %s [action_ex_id=%s] ended: %s%s; to the engine: %s",
            action,
            job.action_ex_id,
            "success" if result.is_success() else f"error ({result.error_type or 'cancel'})",
            "" if result.is_sync else ", async",
            {NONE: "nothing", CAST: "cast", CALL: "call"}[delivery],
        )
        if job.seq is not None:
            if delivery == NONE:
                self._clear(job.seq)
            else:
                try:
                    self.journal.finished(job.seq, delivery, text)
                except JournalError as exc:  # delivered all the same, from memory
                    log.error("result of %s not journaled: %s", job.action_ex_id, exc)
        job.reply = reply
        job.done.set()
        if delivery != NONE:
            assert job.action_ex_id is not None
            self._outbox.put(Delivery(job.seq, job.ctx, job.action_ex_id, text, delivery == CALL))

    # -- delivering ----------------------------------------------------------

    def _send_loop(self) -> None:
        """Deliver results; once stopping, end when nothing is left to deliver."""
        while True:
            try:
                item = self._outbox.get(timeout=0.2)
            except queue.Empty:
                if self._delivery_deadline is not None:
                    return
                if self._uncleared and time.monotonic() - self._clears_retried_at > 1:
                    self._retry_clears()
                continue
            try:
                self._deliver(item)
            except Exception:  # one result must not stop the delivery of the others
                log.exception("delivering the result of %s failed", item.action_ex_id)

    def _deliver(self, d: Delivery) -> None:
        assert self.engine is not None
        call = d.call
        while True:
            try:
                self.engine.on_action_complete(d.ctx, d.action_ex_id, d.result, call=call)
                break
            except messaging.RemoteError as exc:
                # The engine answered: it has the result, even if it did not like it.
                log.warning("engine refused the result of %s: %s", d.action_ex_id, exc)
                break
            except Exception as exc:
                if call and isinstance(exc, messaging.MessagingTimeout):
                    call = self._repeat_as_cast(d, exc)
                    continue
                deadline = self._delivery_deadline
                if deadline is not None and time.monotonic() >= deadline:
                    log.warning(
                        "result of %s not delivered before shutdown (%s); it stays in the journal",
                        d.action_ex_id,
                        exc,
                    )
                    return
                log.warning(
                    "could not deliver the result of %s (%s: %s); retrying",
                    d.action_ex_id,
                    type(exc).__name__,
                    exc,
                )
                time.sleep(self.settings.delivery_retry_interval)
        if d.seq is not None:
            self._clear(d.seq)

    def _clear(self, seq: int) -> None:
        """Forget a run whose result was delivered; if the journal cannot, retry later."""
        try:
            self.journal.clear(seq)
        except JournalError as exc:
            with self._lock:
                self._uncleared.add(seq)
            log.error("delivered, but %s; retrying while the service runs", exc)

    def _retry_clears(self) -> None:
        with self._lock:
            pending, self._uncleared = self._uncleared, set()
            self._clears_retried_at = time.monotonic()
        failed = set()
        for seq in sorted(pending):
            try:
                self.journal.clear(seq)
            except JournalError:
                failed.add(seq)
        with self._lock:
            self._uncleared |= failed
        if pending and not failed:
            log.info("journal: %d delivered result(s) removed at last", len(pending))

    def _repeat_as_cast(self, d: Delivery, exc: Exception) -> bool:
        """Unanswered is not undelivered: a busy engine may have the result.

        Calling again would repeat it every ``rpc_response_timeout``; one
        cast with the same content (publisher-confirmed) bounds it to one
        repeat, which Mistral's engine ignores for a completed action
        execution. Returns the new ``call`` flag.
        """
        with self._lock:
            self._repeated_results += 1
            repeated = self._repeated_results
        log.warning(
            "the engine did not answer the result of %s within rpc_response_timeout=%g s "
            "(%s); it may have it already: sent once more as a cast "
            "(%d result(s) repeated so far)",
            d.action_ex_id,
            self.settings.rpc_response_timeout,
            exc,
            repeated,
        )
        return False

    # -- restart recovery ----------------------------------------------------

    def _recover(self) -> None:
        entries = self.journal.entries()
        if not entries:
            return
        counts = {"delivered": 0, "rerun": 0, "reported": 0}
        for entry in entries:
            try:
                kind = self._recover_one(entry)
            except Exception:  # a row this process cannot handle must not stop its start
                log.exception(
                    "journal: skipping run %s [action_ex_id=%s], which cannot be recovered",
                    entry.seq,
                    entry.action_ex_id,
                )
                with contextlib.suppress(Exception):
                    self.journal.clear(entry.seq)
                kind = "reported"
            counts[kind] += 1
        log.warning(
            "journal: %d unfinished run(s) from a previous process: %d result(s) to deliver, "
            "%d re-run, %d reported as failed",
            len(entries),
            counts["delivered"],
            counts["rerun"],
            counts["reported"],
        )

    def _recover_one(self, entry: Entry) -> str:
        if entry.action_ex_id is None:
            self.journal.clear(entry.seq)
            return "reported"
        if entry.state == FINISHED:
            self._outbox.put(
                Delivery(
                    entry.seq,
                    entry.context,
                    entry.action_ex_id,
                    entry.result,
                    entry.delivery == CALL,
                )
            )
            return "delivered"
        started = entry.state == STARTED
        job = Job(
            entry.seq,
            entry.context,
            entry.args,
            entry.action_ex_id,
            entry.safe_rerun,
            rerun=started,
        )
        if not started or entry.safe_rerun:
            with self._lock:  # recovery bypasses the queue bound: these were accepted
                self._waiting += 1
                key = job.action_ex_id or ""
                self._held[key] = self._held.get(key, 0) + 1
            self._work.put(job)
            return "rerun"
        self._refuse(
            job,
            "executor restarted while the action ran; it is not marked safe-rerun, so it "
            "was not run again",
        )
        return "reported"


# -- process --------------------------------------------------------------------


def sd_notify(state: str) -> None:
    """systemd's readiness protocol (``Type=notify``); nothing without NOTIFY_SOCKET."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.debug("sd_notify(%s) failed: %s", state, exc)


def serve(conf: cfg.ConfigOpts) -> int:
    """Run until SIGTERM/SIGINT; a second signal skips the grace period."""
    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        signals.append(signum)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # where is it stuck? (stderr)
    service = ExecutorService(conf)
    service.start()
    sd_notify("READY=1")
    while not stop.wait(1.0):
        pass
    sd_notify("STOPPING=1")
    s = service.settings
    limit = (
        s.shutdown_grace_period + s.shutdown_delivery_timeout + service.config.close_timeout + 20
    )
    watchdog = threading.Timer(limit, _hang_exit, args=(limit,))
    watchdog.daemon = True
    watchdog.start()

    def on_second(signum: int, _frame: Any) -> None:
        log.warning("second signal: killing the running actions now")
        service._killing.set()
        if service.executor is not None:
            threading.Thread(target=service.executor.close, daemon=True).start()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_second)
    log.info("signal %s: stopping (grace %.3g s)", signals[0], s.shutdown_grace_period)
    service.stop()
    watchdog.cancel()
    log.info("stopped")
    return 0


def _hang_exit(limit: float) -> None:
    log.error("stopping took more than %.0f s; exiting without finishing", limit)
    logging.shutdown()
    os._exit(CommandExit.FAILED)


__all__ = ["ExecutorService", "serve", "admin_context"]
