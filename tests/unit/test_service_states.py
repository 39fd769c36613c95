"""The service's lifecycle and its jobs' (executor.service.states): the tables, the moves."""

from __future__ import annotations

import pytest

from executor.deadline import Deadline
from executor.lifecycle import InvalidTransition
from executor.service import journal
from executor.service.jobs import Job
from executor.service.states import (
    JOB_MOVES,
    SERVICE_MOVES,
    JobState,
    ServiceLifecycle,
    ServiceState,
)

S = ServiceState
J = JobState


def _service(*path: ServiceState) -> ServiceLifecycle:
    lifecycle = ServiceLifecycle()
    for state in path:
        assert lifecycle.change(state) is True
    return lifecycle


def _job() -> Job:
    return Job(seq=1, ctx={}, args={}, action_ex_id="ex-1", safe_rerun=False)


def test_the_service_table_lists_every_state_and_stopped_is_final():
    assert set(SERVICE_MOVES) == set(ServiceState)
    assert SERVICE_MOVES[S.STOPPED] == frozenset()
    assert all(S.STARTING not in moves for moves in SERVICE_MOVES.values())


@pytest.mark.parametrize("late", list(ServiceState), ids=lambda s: s.value)
def test_no_move_leaves_a_stopped_service(late):
    lifecycle = _service(S.RUNNING, S.STOPPING, S.DELIVERING, S.STOPPED)
    assert lifecycle.change(late) is False
    assert lifecycle.state is S.STOPPED


def test_a_service_stops_through_killing_and_remembers_it_killed():
    lifecycle = _service(S.RUNNING, S.STOPPING)
    assert (lifecycle.stopping, lifecycle.killed) == (True, False)
    lifecycle.change(S.KILLING)
    assert lifecycle.killed is True
    assert lifecycle.deliver_until(Deadline.after(0)) is True
    assert lifecycle.draining and lifecycle.killed and lifecycle.delivery_deadline.expired()


def test_a_service_that_stopped_in_time_never_killed():
    lifecycle = _service(S.RUNNING, S.STOPPING, S.DELIVERING)
    assert lifecycle.killed is False


def test_a_running_service_takes_actions_and_has_no_delivery_deadline():
    lifecycle = _service(S.RUNNING)
    assert not lifecycle.stopping and not lifecycle.draining
    assert not lifecycle.delivery_deadline.is_set


def test_a_second_signal_before_the_stop_began_kills_at_once():
    lifecycle = _service(S.RUNNING, S.KILLING)
    assert lifecycle.change(S.STOPPING, only_from=(S.STARTING, S.RUNNING)) is False
    assert lifecycle.stopping and lifecycle.state is S.KILLING


@pytest.mark.parametrize(
    ("path", "refused"),
    [((), S.DELIVERING), ((S.RUNNING,), S.STOPPED), ((S.RUNNING, S.STOPPING), S.RUNNING)],
    ids=["starting-delivering", "running-stopped", "stopping-running"],
)
def test_a_move_the_service_table_does_not_list_raises(path, refused):
    lifecycle = _service(*path)
    with pytest.raises(InvalidTransition, match="executor service"):
        lifecycle.change(refused)


def test_the_job_table_lists_every_state_and_finished_is_final():
    assert set(JOB_MOVES) == set(JobState)
    assert JOB_MOVES[J.FINISHED] == frozenset()


def test_the_journal_stores_a_job_s_own_state_names():
    stored = (journal.ACCEPTED, journal.STARTED, journal.FINISHED)
    assert stored == (J.ACCEPTED.value, J.STARTED.value, J.FINISHED.value)


def test_a_job_has_one_outcome():
    job = _job()
    assert job.claim() is True
    assert job.claim() is False
    job.finished("reply")
    assert job.is_finished and job.reply == "reply"
    assert job.claim() is False


@pytest.mark.parametrize("late", list(JobState), ids=lambda s: s.value)
def test_no_move_leaves_a_finished_job(late):
    job = _job()
    job.claim()
    job.finished(None)
    assert job.lifecycle.change(late) is False
    assert job.lifecycle.state is J.FINISHED


def test_a_started_job_never_waits_again():
    job = _job()
    job.lifecycle.change(J.STARTED)
    with pytest.raises(InvalidTransition, match="service job: started -> accepted"):
        job.lifecycle.change(J.ACCEPTED)


def test_an_abandoned_job_wakes_its_caller_without_a_reply():
    job = _job()
    job.abandon()
    job.wait_finished()
    assert job.is_finished and job.reply is None
