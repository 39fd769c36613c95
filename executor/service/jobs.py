"""The jobs the service holds: each ``run_action`` it accepted, and its own queue of them.

The service queues under its own bound (``queue_size`` waiting for
``max_concurrency`` workers) rather than the ``Executor``'s, because it
must know every id it holds: heartbeats report them, and a second delivery
of one is dropped. A job is held from the moment it is queued (accepted now,
or found in the journal at a start) until its worker is done with it.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from executor.lifecycle import Lifecycle
from executor.service.states import JOB_MOVES, JobState

RECENT_IDS = 10_000  # finished ids remembered: a redelivery after they left the journal
_STOP = object()
_OPEN = (JobState.ACCEPTED, JobState.STARTED)


def _job_lifecycle() -> Lifecycle[JobState]:
    return Lifecycle("service job", JobState.ACCEPTED, JOB_MOVES, final=(JobState.FINISHED,))


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
    lifecycle: Lifecycle[JobState] = field(default_factory=_job_lifecycle)

    def claim(self) -> bool:
        """True once: only one outcome of a job is ever reported."""
        return self.lifecycle.change(JobState.ENDING, only_from=_OPEN)

    def finished(self, reply: str | None) -> None:
        """The outcome is journaled: a call waiting for ``reply`` gets it."""
        self.reply = reply
        self.lifecycle.change(JobState.FINISHED)

    def abandon(self) -> None:
        """Its report failed: a call waiting for it must not wait forever."""
        self.claim()
        self.lifecycle.change(JobState.FINISHED)

    @property
    def is_finished(self) -> bool:
        return self.lifecycle.is_in(JobState.FINISHED)

    def wait_finished(self) -> None:
        self.lifecycle.wait_for((JobState.FINISHED,), timeout=None)


class JobQueue:
    """The jobs waiting for a worker, the ids held, the jobs running, the ids run here."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._work: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._waiting = 0
        self._held: dict[str, int] = {}
        self._running: set[Job] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()  # ids finished here, newest last

    @property
    def waiting(self) -> int:
        """Accepted actions not yet started (the metrics read it)."""
        with self._lock:
            return self._waiting

    def _hold(self, job: Job) -> None:
        """Under ``_lock``: ``job`` waits for a worker, and its id is held until it ran."""
        self._waiting += 1
        if job.action_ex_id:
            self._held[job.action_ex_id] = self._held.get(job.action_ex_id, 0) + 1

    def enqueue(self, job: Job) -> bool:
        """Queue a new job; False when ``queue_size`` jobs already wait."""
        with self._lock:
            if self._waiting >= self.queue_size:
                return False
            self._hold(job)
        self._work.put(job)
        return True

    def readmit(self, job: Job) -> None:
        """Queue a job found in the journal: it was accepted, so the bound does not apply."""
        with self._lock:
            self._hold(job)
        self._work.put(job)

    def take(self) -> Job | None:
        """The next job for a worker (blocks); None tells the worker to end."""
        job = self._work.get()
        if job is _STOP:
            return None
        with self._lock:
            self._waiting -= 1
        return job  # type: ignore[no-any-return]

    def end_workers(self, count: int) -> None:
        for _ in range(count):
            self._work.put(_STOP)

    def take_waiting(self) -> Iterator[Job]:
        """At shutdown: every job still waiting for a worker, released one at a time."""
        while True:
            try:
                job = self._work.get_nowait()
            except queue.Empty:
                return
            if job is _STOP:
                continue
            with self._lock:
                self._waiting -= 1
            self.release(job)
            yield job

    def release(self, job: Job) -> None:
        """Its worker is done with it: its id is no longer held (unless queued again)."""
        if not job.action_ex_id:
            return
        with self._lock:
            left = self._held.get(job.action_ex_id, 0) - 1
            if left > 0:
                self._held[job.action_ex_id] = left
            else:
                self._held.pop(job.action_ex_id, None)

    def held_ids(self) -> list[str]:
        with self._lock:
            return list(self._held)

    @contextlib.contextmanager
    def running(self, job: Job) -> Iterator[None]:
        with self._lock:
            self._running.add(job)
        try:
            yield
        finally:
            with self._lock:
                self._running.discard(job)

    def still_running(self) -> list[Job]:
        with self._lock:
            return list(self._running)

    def remember(self, action_ex_id: str) -> None:
        """A job of this id finished here: a later delivery of it is a repeat."""
        with self._lock:
            self._recent[action_ex_id] = None
            while len(self._recent) > RECENT_IDS:
                self._recent.popitem(last=False)

    def knows(self, action_ex_id: str) -> bool:
        """Held (waiting or running) or finished here lately."""
        return action_ex_id in self.held_ids() or action_ex_id in self._recent
