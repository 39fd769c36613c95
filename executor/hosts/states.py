"""The lifecycle of one host process, as named states with guarded moves.

Stdlib only (imported by every host module). Every move goes through
``HostLifecycle.change`` which checks the edge against ``TRANSITIONS``,
stamps the time, and wakes whoever waits for an exit; so "who set this
flag, and from where" is never a question.

    STARTING -> READY -> RUNNING -> RELEASED -> EXITED
        \\          \\         \\           \\---> LOST
         \\---------- any live state --------> EXITED | LOST

EXITED: reaped, exit status known. LOST: gone (or given up on) with the
status unknowable, e.g. its template died before reaping it.
"""

from __future__ import annotations

import enum
import threading
import time


class HostState(enum.Enum):
    STARTING = "starting"  # process started, handshake not done
    READY = "ready"  # handshake done; may wait as a spare
    RUNNING = "running"  # bound to a run
    RELEASED = "released"  # the run is over; teardown pending
    EXITED = "exited"  # reaped; returncode known
    LOST = "lost"  # gone, exit status unknowable


LIVE = frozenset({HostState.STARTING, HostState.READY, HostState.RUNNING, HostState.RELEASED})
ENDED = frozenset({HostState.EXITED, HostState.LOST})

TRANSITIONS: dict[HostState, frozenset[HostState]] = {
    HostState.STARTING: frozenset({HostState.READY, *ENDED}),
    HostState.READY: frozenset({HostState.RUNNING, HostState.RELEASED, *ENDED}),
    HostState.RUNNING: frozenset({HostState.RELEASED, *ENDED}),
    HostState.RELEASED: ENDED,
    HostState.EXITED: frozenset(),
    HostState.LOST: frozenset(),
}


class InvalidTransition(RuntimeError):
    """A move the lifecycle does not allow: a bug in the caller, never the host."""


class HostLifecycle:
    """The state of one host, the time of its last move, and its exit status."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.state = HostState.STARTING
        self.changed_at = time.monotonic()
        self.returncode: int | None = None
        self._cond = threading.Condition()

    def change(self, new: HostState, returncode: int | None = None) -> bool:
        """Move to ``new``. Any move of a host that already ended is ignored
        (False): exits race with kills, reaps and hand-overs by design."""
        with self._cond:
            if self.state in ENDED:
                return False
            if new not in TRANSITIONS[self.state]:
                raise InvalidTransition(
                    f"host pid {self.pid}: {self.state.value} -> {new.value} is not allowed"
                )
            self.state = new
            self.changed_at = time.monotonic()
            if new is HostState.EXITED:
                self.returncode = returncode
            if new in ENDED:
                self._cond.notify_all()
            return True

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def wait_ended(self, timeout: float) -> bool:
        """Wait until EXITED or LOST; False if still live after ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: self.state in ENDED, timeout=timeout)
