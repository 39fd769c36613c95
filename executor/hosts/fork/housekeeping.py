"""Work kept off the response path: tearing down used children in quiet moments.

Forking a spare or tearing down a used child while a run is in flight
competes with that run for the CPUs (1.2 to 1.8 ms of its latency on a
2-core machine), so both wait until nothing runs, but never longer than
``max_wait`` seconds.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from executor.hosts.fork.child import ForkedHost

log = logging.getLogger(__name__)

#: With this many used hosts waiting, teardown stops waiting for quiet moments.
_BACKLOG = 16
#: After this long without a teardown, ``Reaper.on_quiet`` runs (once).
_QUIET = 1.0
#: After this many teardowns, a quiet moment gives freed heap back to the OS.
_TRIM_EVERY = 256


def _release_free_memory() -> None:
    """``malloc_trim(0)``: glibc keeps memory freed by many threads in its arenas;
    without this an executor's RSS creeps up by megabytes per ten thousand
    actions although nothing leaks (measured with tracemalloc: flat)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class Activity:
    """Counts runs in flight, so housekeeping can wait for a quiet moment."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.in_flight = 0

    def begin(self) -> None:
        with self._cond:
            self.in_flight += 1

    def end(self) -> None:
        with self._cond:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._cond.notify_all()

    def wait_idle(self, max_wait: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.in_flight == 0, timeout=max_wait)


class Reaper:
    """Finishes used children off the response path, in quiet moments."""

    def __init__(
        self, activity: Activity, max_wait: float, on_quiet: Callable[[], None] | None = None
    ) -> None:
        self.queue: queue.Queue[ForkedHost | None] = queue.Queue()
        self.activity = activity
        self.max_wait = max_wait
        #: called once after each ``_QUIET`` seconds without a teardown
        self.on_quiet = on_quiet
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="host-reaper", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def backlog(self) -> int:
        return self.queue.qsize()

    def put(self, host: ForkedHost) -> None:
        """Tear ``host`` down later; at once when the reaper is not running."""
        if self.running:
            self.queue.put(host)
        else:
            host.finish()

    def _run(self) -> None:
        finished = 0
        rested = True
        while True:
            try:
                host = self.queue.get(timeout=None if rested else _QUIET)
            except queue.Empty:
                rested = True
                if self.on_quiet is not None:
                    try:
                        self.on_quiet()
                    except Exception:
                        log.exception("housekeeping in a quiet moment failed")
                continue
            if host is None:
                return
            rested = False
            if self.queue.qsize() < _BACKLOG:  # a backlog is reaped at once
                self.activity.wait_idle(self.max_wait)
            try:
                host.finish()
            except Exception:
                log.exception("could not clean up host pid %s", host.pid)
            finished += 1
            if finished % _TRIM_EVERY == 0 and self.queue.empty():
                _release_free_memory()

    def drain(self) -> None:
        if self._thread is not None:
            self.queue.put(None)
            self._thread.join(30)
