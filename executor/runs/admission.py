"""Admission: at most ``max_concurrency`` runs at once, a bounded queue behind them.

A full queue is refused at once (never a silent drop, never an unbounded
wait); a queued run waits for a slot no longer than its deadline.
"""

from __future__ import annotations

import enum
import threading

from executor.deadline import Deadline


class Admission(enum.Enum):
    ADMITTED = "admitted"
    QUEUE_FULL = "queue full"
    TIMED_OUT = "timed out waiting for a slot"


class Admitter:
    def __init__(self, max_concurrency: int, queue_size: int) -> None:
        self.max_concurrency = max_concurrency
        self.queue_size = queue_size
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        self.waiting = 0

    def admit(self, deadline: Deadline) -> Admission:
        """Take a run slot, waiting in the queue if none is free; ``release()`` gives it back."""
        if self._slots.acquire(blocking=False):
            return Admission.ADMITTED
        with self._lock:
            if self.waiting >= self.queue_size:
                return Admission.QUEUE_FULL
            self.waiting += 1
        try:
            got = self._slots.acquire(timeout=deadline.remaining())
            return Admission.ADMITTED if got else Admission.TIMED_OUT
        finally:
            with self._lock:
                self.waiting -= 1

    def release(self) -> None:
        self._slots.release()
