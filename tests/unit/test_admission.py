"""Admission: at most max_concurrency runs at once, a bounded queue behind them
(executor.runs.admission.Admitter)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from executor.deadline import NEVER, Deadline
from executor.runs.admission import Admission, Admitter

#: Generous bound for "at once" and for a waiting thread to be seen waiting:
#: far above a thread switch even on a loaded 2-core machine.
PROMPT = 2.0


def _wait_until(condition: Callable[[], bool]) -> None:
    deadline = Deadline.after(PROMPT)
    while not condition():
        assert not deadline.expired(), "condition not reached in time"
        time.sleep(0.001)


def _admit_in_thread(admitter: Admitter, deadline: Deadline) -> tuple[threading.Thread, list]:
    outcome: list[Admission] = []
    thread = threading.Thread(target=lambda: outcome.append(admitter.admit(deadline)))
    thread.start()
    _wait_until(lambda: admitter.waiting == 1)
    return thread, outcome


def test_runs_up_to_max_concurrency_are_admitted_without_waiting():
    admitter = Admitter(max_concurrency=3, queue_size=0)
    assert [admitter.admit(NEVER) for _ in range(3)] == [Admission.ADMITTED] * 3


def test_a_run_finding_the_queue_full_is_refused_at_once():
    admitter = Admitter(max_concurrency=1, queue_size=0)
    admitter.admit(NEVER)
    started = time.monotonic()
    assert admitter.admit(Deadline.after(60)) is Admission.QUEUE_FULL
    assert time.monotonic() - started < PROMPT


def test_the_queue_holds_queue_size_runs_and_refuses_the_next():
    admitter = Admitter(max_concurrency=1, queue_size=1)
    admitter.admit(NEVER)
    waiter, outcome = _admit_in_thread(admitter, Deadline.after(60))
    assert admitter.admit(Deadline.after(60)) is Admission.QUEUE_FULL
    admitter.release()
    waiter.join(PROMPT)
    assert outcome == [Admission.ADMITTED]


def test_a_queued_run_is_admitted_when_a_slot_frees():
    admitter = Admitter(max_concurrency=1, queue_size=4)
    admitter.admit(NEVER)
    waiter, outcome = _admit_in_thread(admitter, NEVER)
    assert outcome == []  # still waiting: the only slot is taken
    admitter.release()
    waiter.join(PROMPT)
    assert outcome == [Admission.ADMITTED]
    assert admitter.waiting == 0


def test_a_queued_run_gives_up_when_its_deadline_passes():
    admitter = Admitter(max_concurrency=1, queue_size=4)
    admitter.admit(NEVER)
    started = time.monotonic()
    assert admitter.admit(Deadline.after(0.05)) is Admission.TIMED_OUT
    assert time.monotonic() - started >= 0.05
    assert admitter.waiting == 0


def test_a_run_whose_deadline_already_passed_does_not_wait_in_the_queue():
    admitter = Admitter(max_concurrency=1, queue_size=4)
    admitter.admit(NEVER)
    started = time.monotonic()
    assert admitter.admit(Deadline(time.monotonic() - 1)) is Admission.TIMED_OUT
    assert time.monotonic() - started < PROMPT


def test_a_released_slot_admits_the_next_run_at_once():
    admitter = Admitter(max_concurrency=1, queue_size=0)
    admitter.admit(NEVER)
    admitter.release()
    assert admitter.admit(NEVER) is Admission.ADMITTED


def test_releasing_more_slots_than_were_taken_is_a_bug_that_raises():
    admitter = Admitter(max_concurrency=1, queue_size=0)
    with pytest.raises(ValueError):
        admitter.release()
