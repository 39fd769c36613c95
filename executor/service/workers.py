"""The workers: ``max_concurrency`` threads, each running one job at a time through ``Executor``.

A worker marks the job started (in the journal first: unrecorded, a crash
would run it again), reports it running to the engine, runs it with
``Executor.run_instance`` and hands the Result to the ``Reporter``. Whatever
goes wrong in between, the job still ends with one outcome.
"""

from __future__ import annotations

import logging
import threading

from executor import ActionInstance, ErrorKind, Executor, Result
from executor.deadline import Deadline
from executor.service import wire
from executor.service.heartbeat import Heartbeat
from executor.service.jobs import Job, JobQueue
from executor.service.journal import Journal, JournalError
from executor.service.mistral_context import action_context
from executor.service.outcome import Reporter
from executor.service.settings import ServiceSettings
from executor.service.states import JobState, ServiceLifecycle

log = logging.getLogger(__name__)


class Workers:
    def __init__(
        self,
        jobs: JobQueue,
        journal: Journal,
        reporter: Reporter,
        settings: ServiceSettings,
        lifecycle: ServiceLifecycle,
    ) -> None:
        self.jobs = jobs
        self.journal = journal
        self.reporter = reporter
        self.settings = settings
        self.lifecycle = lifecycle
        self.executor: Executor | None = None
        self.heartbeat: Heartbeat | None = None
        self._threads: list[threading.Thread] = []

    def start(self, executor: Executor, heartbeat: Heartbeat) -> None:
        self.executor, self.heartbeat = executor, heartbeat
        for i in range(self.settings.max_concurrency):
            t = threading.Thread(target=self._work_loop, name=f"worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def end(self, deadline: Deadline) -> int:
        """Each worker ends after its current job; how many still run at ``deadline``."""
        self.jobs.end_workers(len(self._threads))
        self.join(deadline)
        return self.alive()

    def join(self, deadline: Deadline) -> None:
        for t in self._threads:
            t.join(timeout=deadline.remaining())

    def alive(self) -> int:
        return sum(t.is_alive() for t in self._threads)

    def _work_loop(self) -> None:
        while (job := self.jobs.take()) is not None:
            try:
                with self.jobs.running(job):
                    self._run_job(job)
            except Exception as exc:  # never lose a job (or this worker) to one message
                log.exception("running action %s failed unexpectedly", job.action_ex_id)
                if not job.is_finished:
                    self.reporter.refuse_safely(
                        job,
                        f"internal error in the executor service ({type(exc).__name__}); "
                        "see its log",
                    )
            finally:
                self.jobs.release(job)

    def _run_job(self, job: Job) -> None:
        assert self.executor is not None and self.heartbeat is not None
        job.lifecycle.change(JobState.STARTED, only_from=(JobState.ACCEPTED,))
        if job.seq is not None:
            try:
                self.journal.started(job.seq)
            except JournalError as exc:
                # Unrecorded, a crash would run it again: refuse rather than risk that.
                self.reporter.refuse(
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
            self.reporter.refuse(
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
            error = Result(error=cause, error_type=ErrorKind.EXECUTOR_CLOSED)
            self.reporter.finish(job, error, action.class_path)
            return
        context = action_context(job.ctx, exec_ctx, job.action_ex_id, job.rerun)
        params = wire.decode(job.args.get("action_params"))
        if isinstance(params, dict):  # action-executor call: a registered name, its parameters
            result = self.executor.run(action.class_path, params, context=context, timeout=seconds)
        else:  # Mistral's engine: a class path and the instance's attributes
            instance = ActionInstance(
                class_path=action.class_path, data=action.data, class_attrs=action.class_attrs
            )
            result = self.executor.run_instance(instance, context=context, timeout=seconds)
        self.reporter.finish(job, self._killed_said(result), result.action or action.class_path)

    def _killed_said(self, result: Result) -> Result:
        """An action killed at shutdown: its error says why it was killed."""
        if result.is_error() and self.lifecycle.killed:
            result.error = (
                f"{result.error} (the executor was stopped and the action did not finish "
                f"within shutdown_grace_period={self.settings.shutdown_grace_period:g} s)"
            )
        return result
