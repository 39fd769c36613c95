"""The lifecycle of one host process: named states, guarded moves
(executor.hosts.states)."""

from __future__ import annotations

import threading

import pytest

from executor.hosts.states import (
    ENDED,
    LIVE,
    TRANSITIONS,
    HostLifecycle,
    HostState,
    InvalidTransition,
)

S = HostState


def _at(*path: HostState) -> HostLifecycle:
    """A lifecycle moved along ``path`` from STARTING."""
    lifecycle = HostLifecycle(pid=4242)
    for state in path:
        assert lifecycle.change(state) is True
    return lifecycle


def test_a_new_host_is_starting():
    lifecycle = HostLifecycle(pid=4242)
    assert lifecycle.state is S.STARTING
    assert lifecycle.returncode is None
    assert lifecycle.ended is False


def test_a_host_goes_from_starting_through_a_run_to_its_exit():
    lifecycle = _at(S.READY, S.RUNNING, S.RELEASED)
    assert lifecycle.change(S.EXITED, returncode=0) is True
    assert (lifecycle.state, lifecycle.returncode, lifecycle.ended) == (S.EXITED, 0, True)


def test_a_spare_that_is_never_used_may_be_released_from_ready():
    assert _at(S.READY, S.RELEASED).state is S.RELEASED


@pytest.mark.parametrize("live", sorted(LIVE, key=str))
@pytest.mark.parametrize("end", sorted(ENDED, key=str))
def test_every_live_state_may_end(live, end):
    path = {
        S.STARTING: (),
        S.READY: (S.READY,),
        S.RUNNING: (S.READY, S.RUNNING),
        S.RELEASED: (S.READY, S.RELEASED),
    }[live]
    lifecycle = _at(*path)
    assert lifecycle.change(end) is True
    assert lifecycle.state is end


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ((), S.RUNNING),  # no run before the handshake
        ((), S.RELEASED),
        ((S.READY, S.RUNNING), S.READY),  # a used host is never a spare again
        ((S.READY, S.RELEASED), S.RUNNING),  # nor runs again after release
        ((S.READY, S.RELEASED), S.READY),
    ],
    ids=lambda v: v.value if isinstance(v, HostState) else "-".join(s.value for s in v) or "new",
)
def test_a_move_the_lifecycle_does_not_allow_raises_invalid_transition(path, refused):
    lifecycle = _at(*path)
    before = lifecycle.state
    with pytest.raises(InvalidTransition, match=f"pid 4242: {before.value} -> {refused.value}"):
        lifecycle.change(refused)
    assert lifecycle.state is before


def test_a_live_state_cannot_move_to_itself():
    lifecycle = _at(S.READY)
    with pytest.raises(InvalidTransition):
        lifecycle.change(S.READY)


def test_the_transition_table_covers_every_state_and_ended_states_are_final():
    assert set(TRANSITIONS) == set(HostState)
    assert LIVE | ENDED == set(HostState) and not LIVE & ENDED
    assert all(TRANSITIONS[end] == frozenset() for end in ENDED)


@pytest.mark.parametrize("late", list(HostState), ids=lambda s: s.value)
def test_any_move_after_the_host_ended_is_ignored(late):
    # exits race with kills, reaps and hand-overs by design: no error
    lifecycle = _at(S.READY, S.RUNNING)
    lifecycle.change(S.EXITED, returncode=-9)
    assert lifecycle.change(late, returncode=0) is False
    assert (lifecycle.state, lifecycle.returncode) == (S.EXITED, -9)


def test_a_host_lost_keeps_no_exit_status():
    lifecycle = _at(S.READY)
    lifecycle.change(S.LOST, returncode=3)
    assert lifecycle.state is S.LOST
    assert lifecycle.returncode is None


def test_every_move_stamps_the_time_of_the_change():
    lifecycle = HostLifecycle(pid=4242)
    started = lifecycle.changed_at
    lifecycle.change(S.READY)
    assert lifecycle.changed_at >= started


def test_wait_ended_times_out_while_the_host_is_live():
    lifecycle = _at(S.READY, S.RUNNING)
    assert lifecycle.wait_ended(timeout=0.01) is False


def test_wait_ended_returns_at_once_for_a_host_that_already_ended():
    lifecycle = _at(S.READY)
    lifecycle.change(S.LOST)
    assert lifecycle.wait_ended(timeout=0) is True


def test_wait_ended_wakes_when_another_thread_records_the_exit():
    lifecycle = _at(S.READY, S.RUNNING)
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(lifecycle.wait_ended(timeout=30)))
    waiter.start()
    lifecycle.change(S.EXITED, returncode=0)
    waiter.join(30)
    assert woke == [True]
