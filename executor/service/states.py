"""The named lifecycles of the service and of each job it holds.

Both are ``executor.lifecycle.Lifecycle`` tables, so "is the service
stopping?" and "was this job's outcome already reported?" have one answer
each, read from one field, instead of flags set from several places.

    service:  STARTING -> RUNNING -> STOPPING -> [KILLING] -> DELIVERING -> STOPPED
    job:      ACCEPTED -> [STARTED] -> ENDING -> FINISHED

A job's ACCEPTED, STARTED and FINISHED are the states the journal stores
for its run (``executor.service.journal``), under the same names.
"""

from __future__ import annotations

import enum

from executor.deadline import NEVER, Deadline
from executor.lifecycle import Lifecycle

__all__ = [
    "JOB_MOVES",
    "SERVICE_MOVES",
    "JobState",
    "ServiceLifecycle",
    "ServiceState",
]


class ServiceState(enum.Enum):
    STARTING = "starting"  # built; starting its threads, recovering the journal
    RUNNING = "running"  # listening: run_action is taken
    STOPPING = "stopping"  # nothing more is taken; running actions have the grace period
    KILLING = "killing"  # the grace is over (or a second signal): what runs is killed
    DELIVERING = "delivering"  # nothing runs; results go out until the delivery timeout
    STOPPED = "stopped"  # connections closed, journal closed


SERVICE_MOVES: dict[ServiceState, frozenset[ServiceState]] = {
    ServiceState.STARTING: frozenset({ServiceState.RUNNING, ServiceState.STOPPING}),
    ServiceState.RUNNING: frozenset({ServiceState.STOPPING, ServiceState.KILLING}),
    ServiceState.STOPPING: frozenset({ServiceState.KILLING, ServiceState.DELIVERING}),
    ServiceState.KILLING: frozenset({ServiceState.DELIVERING}),
    ServiceState.DELIVERING: frozenset({ServiceState.STOPPED}),
    ServiceState.STOPPED: frozenset(),
}

_TAKING = (ServiceState.STARTING, ServiceState.RUNNING)
_DRAINING = (ServiceState.DELIVERING, ServiceState.STOPPED)


class ServiceLifecycle(Lifecycle[ServiceState]):
    """The service's state, whether it ever killed actions, and when delivery gives up."""

    def __init__(self) -> None:
        super().__init__(
            "executor service", ServiceState.STARTING, SERVICE_MOVES, final=(ServiceState.STOPPED,)
        )
        self.killed = False  # KILLING was reached: a run's error says why it ended
        self.delivery_deadline: Deadline = NEVER

    def _moved(self, new: ServiceState) -> None:
        if new is ServiceState.KILLING:
            self.killed = True

    @property
    def stopping(self) -> bool:
        """No action is taken any more (STOPPING or later)."""
        return self.state not in _TAKING

    @property
    def draining(self) -> bool:
        """Delivery ends once nothing is left to send."""
        return self.state in _DRAINING

    def deliver_until(self, deadline: Deadline) -> bool:
        """To DELIVERING, with the point after which an undelivered result stays journaled."""
        with self._cond:
            self.delivery_deadline = deadline
            return self.change(
                ServiceState.DELIVERING, only_from=(ServiceState.STOPPING, ServiceState.KILLING)
            )


class JobState(enum.Enum):
    ACCEPTED = "accepted"  # journaled (when it has an id); waiting for a slot, or refused
    STARTED = "started"  # a worker runs it
    ENDING = "ending"  # its one outcome is taken; it is being journaled
    FINISHED = "finished"  # outcome journaled; a call's reply is ready


JOB_MOVES: dict[JobState, frozenset[JobState]] = {
    JobState.ACCEPTED: frozenset({JobState.STARTED, JobState.ENDING}),
    JobState.STARTED: frozenset({JobState.ENDING}),
    JobState.ENDING: frozenset({JobState.FINISHED}),
    JobState.FINISHED: frozenset(),
}
