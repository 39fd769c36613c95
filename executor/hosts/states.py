"""The lifecycle of one host process, as named states with guarded moves.

A ``Lifecycle`` (``executor.lifecycle``). Every move goes through
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
from collections.abc import Collection

from executor.lifecycle import InvalidTransition, Lifecycle

__all__ = ["ENDED", "LIVE", "TRANSITIONS", "HostLifecycle", "HostState", "InvalidTransition"]


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


class TemplateState(enum.Enum):
    """A fork template's lifecycle (``TemplateProcess.lifecycle``)."""

    STARTING = "starting"  # launched; the handshake is not done
    READY = "ready"  # handshake done: it forks hosts
    RETIRING = "retiring"  # asked to exit (its environment changed, or the executor closes)
    DEAD = "dead"  # its channel closed or it was killed: its children are lost


TEMPLATE_MOVES: dict[TemplateState, frozenset[TemplateState]] = {
    TemplateState.STARTING: frozenset(
        {TemplateState.READY, TemplateState.RETIRING, TemplateState.DEAD}
    ),
    TemplateState.READY: frozenset({TemplateState.RETIRING, TemplateState.DEAD}),
    TemplateState.RETIRING: frozenset({TemplateState.DEAD}),
    TemplateState.DEAD: frozenset(),
}


class HostLifecycle(Lifecycle[HostState]):
    """The state of one host, the time of its last move, and its exit status."""

    def __init__(self, pid: int) -> None:
        super().__init__(f"host pid {pid}", HostState.STARTING, TRANSITIONS, final=ENDED)
        self.pid = pid
        self.returncode: int | None = None
        self._returncode: int | None = None

    def change(
        self,
        new: HostState,
        returncode: int | None = None,
        *,
        only_from: Collection[HostState] | None = None,
    ) -> bool:
        """Move to ``new`` (EXITED with its ``returncode``). Any move of a host
        that already ended is ignored (False): exits race with kills, reaps and
        hand-overs by design."""
        with self._cond:
            self._returncode = returncode
            return super().change(new, only_from=only_from)

    def _moved(self, new: HostState) -> None:
        if new is HostState.EXITED:
            self.returncode = self._returncode

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def wait_ended(self, timeout: float) -> bool:
        """Wait until EXITED or LOST; False if still live after ``timeout``."""
        return self.wait_for(ENDED, timeout)
