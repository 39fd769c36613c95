"""``ExecutorService``: the life of a Mistral executor built on ``Executor``.

Flow of one ``run_action``: the endpoint decodes and journals it, queues it
under the executor's own limit (``max_concurrency`` workers, ``queue_size``
waiting; ``jobs``) and returns (a cast) or waits for its Result (a call). A
worker (``workers``) reports it running, runs it with
``Executor.run_instance`` (its context: ``mistral_context``), and the
``Reporter`` (``outcome``) journals the message owed to the engine and hands
it to the delivery threads (``delivery``), which send it (retrying while the
broker or the engine is away) and clear the journal. A start first finishes
what the journal holds (``recovery``); the process around it (signals,
systemd, the watchdog) is ``process``.

Stopping moves the service through its lifecycle (``states.ServiceState``):
STOPPING cancels the consumers (the broker keeps what it has not delivered),
fails back what was accepted and has not started, and gives the running
actions ``shutdown_grace_period``; KILLING kills what still runs (reported as
errors); DELIVERING delivers for at most ``shutdown_delivery_timeout``;
STOPPED closes. A watchdog ends the process if anything still hangs.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import oslo_messaging as messaging
from oslo_config import cfg
from oslo_messaging.rpc import dispatcher

from executor import ErrorKind, Executor
from executor.deadline import Deadline
from executor.service import settings, wire
from executor.service.delivery import Outbox
from executor.service.endpoint import ExecutorEndpoint, RpcServer
from executor.service.engine import EngineClient, Raw, WireSerializer
from executor.service.heartbeat import Heartbeat
from executor.service.jobs import Job, JobQueue
from executor.service.journal import Journal, JournalError
from executor.service.metrics import ServiceMetrics
from executor.service.outcome import Reporter
from executor.service.recovery import recover
from executor.service.settings import action_config_file, with_action_config
from executor.service.states import ServiceLifecycle, ServiceState
from executor.service.workers import Workers

log = logging.getLogger(__name__)

_CLOSE_WAIT = 2.0  # seconds for the executor's close, and then for the workers it freed


class ExecutorService:
    """One ``action-executor serve`` process: RPC server, workers, journal, heartbeats."""

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self.config = settings.executor_config(conf)
        self.settings = settings.ServiceSettings.from_conf(conf, self.config)
        self.config = with_action_config(self.config, self.settings.host)
        self.journal = Journal(self.settings.journal_file)
        self.lifecycle = ServiceLifecycle()
        self.jobs = JobQueue(self.settings.queue_size)
        self.outbox = Outbox(self.journal, self.settings, self.lifecycle)
        self.reporter = Reporter(self.journal, self.jobs, self.outbox)
        self.workers = Workers(
            self.jobs, self.journal, self.reporter, self.settings, self.lifecycle
        )
        self.executor: Executor | None = None
        self.transport: Any = None
        self.engine: EngineClient | None = None
        self.heartbeat: Heartbeat | None = None
        self._server: Any = None
        self._accepting = threading.Lock()
        self.metrics: ServiceMetrics | None = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        s = self.settings
        self.executor = Executor(self.config).start()
        self.transport = messaging.get_rpc_transport(self.conf)
        self.engine = EngineClient(self.transport, s.engine_topic, s.rpc_response_timeout)
        self.heartbeat = Heartbeat(self.engine, s.heartbeat_interval, self.jobs.held_ids)
        self.outbox.start(self.engine)
        self.workers.start(self.executor, self.heartbeat)
        recover(self.journal, self.jobs, self.outbox, self.reporter)
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
        if s.metrics_port:
            self.metrics = ServiceMetrics(self)
            self.reporter.observe = self.metrics.observe
            self.metrics.serve(s.metrics_host, s.metrics_port)
        self.lifecycle.change(ServiceState.RUNNING)
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
        grace = self.settings.shutdown_grace_period if grace is None else grace
        self.lifecycle.change(
            ServiceState.STOPPING, only_from=(ServiceState.STARTING, ServiceState.RUNNING)
        )
        deadline = Deadline.after(grace)
        if self._server is not None:
            log.info("stopping: no more actions are taken")
            self._server.stop_taking()
        for job in self.jobs.take_waiting():  # reported, never silently kept
            self.reporter.refuse(
                job, "the executor stopped before the action started (nothing ran)"
            )
        self._end_runs(deadline, grace)
        delivery = Deadline.after(self.settings.shutdown_delivery_timeout)
        self.lifecycle.deliver_until(delivery)
        self.outbox.join(delivery.extended(1))
        self._close()
        self.lifecycle.change(ServiceState.STOPPED, only_from=(ServiceState.DELIVERING,))

    def kill_now(self) -> None:
        """Skip what is left of the grace period: what runs is killed (a second signal)."""
        self.lifecycle.change(
            ServiceState.KILLING, only_from=(ServiceState.RUNNING, ServiceState.STOPPING)
        )
        if self.executor is not None:
            threading.Thread(target=self.executor.close, daemon=True).start()

    def _end_runs(self, deadline: Deadline, grace: float) -> None:
        """The workers end within the grace, or their actions are killed (KILLING)."""
        alive = self.workers.end(deadline)
        if alive:
            log.warning(
                "stopping: %d action(s) still running after the %.3g s grace period; killing them",
                alive,
                grace,
            )
            self.lifecycle.change(ServiceState.KILLING, only_from=(ServiceState.STOPPING,))
        if self.executor is not None:
            # Kills what still runs: their Results come back as errors.
            closer = threading.Thread(target=self.executor.close, daemon=True)
            closer.start()
            closer.join(timeout=_CLOSE_WAIT)
        self.workers.join(Deadline.after(_CLOSE_WAIT))
        for job in self.jobs.still_running():  # their hosts did not answer the kill in time
            self.reporter.refuse(
                job,
                "the executor was stopped and the action did not finish within "
                f"shutdown_grace_period={self.settings.shutdown_grace_period:g} s; it was killed",
            )

    def _close(self) -> None:
        """Heartbeats, the RPC server, the journal: what is left is said in the log."""
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self._server is not None:
            waiter = threading.Thread(target=self._server.finish, args=(3,), daemon=True)
            waiter.start()
            waiter.join(timeout=5)
        self.outbox.retry_clears()
        if self.outbox.uncleared:
            log.error(
                "stopping: %d delivered result(s) could not be removed from the journal; the "
                "next start sends them again (Mistral's engine ignores a second result)",
                self.outbox.uncleared,
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
        if self.metrics is not None:
            self.metrics.close()
        self.journal.close()

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
        job.wait_finished()
        return Raw(job.reply)

    def _known(self, action_ex_id: str) -> bool:
        if self.jobs.knows(action_ex_id):
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
            self.reporter.refuse(
                job,
                "the executor could not record the action in its journal, so it was not "
                f"started: {journal_problem}",
            )
        elif problem is not None:
            self.reporter.refuse(
                job,
                f"the engine sent an action this executor cannot read: {problem}",
                ErrorKind.INVALID_INPUT,
            )
        elif self.lifecycle.stopping:
            self.reporter.refuse(job, "the executor is stopping; the action was not started")
        elif not self.jobs.enqueue(job):
            self.reporter.refuse(
                job,
                f"the executor's queue is full ({self.settings.queue_size} actions waiting "
                f"for {self.settings.max_concurrency} slots); the action was not started",
                ErrorKind.QUEUE_FULL,
            )
        return job


__all__ = ["ExecutorService", "action_config_file", "with_action_config"]
