"""``Deadline``: a point on the monotonic clock, or none (executor.deadline)."""

from __future__ import annotations

import time

from executor.deadline import NEVER, Deadline


def test_no_deadline_never_expires_and_has_no_remaining_time():
    assert NEVER.is_set is False
    assert NEVER.expired() is False
    assert NEVER.remaining() is None
    assert NEVER.poll_ms() is None


def test_after_none_is_no_deadline():
    assert Deadline.after(None) == NEVER


def test_after_counts_on_the_monotonic_clock():
    before = time.monotonic()
    deadline = Deadline.after(10.0)
    after = time.monotonic()
    assert deadline.at is not None
    assert before + 10.0 <= deadline.at <= after + 10.0


def test_remaining_counts_down_and_never_goes_negative():
    deadline = Deadline.after(10.0)
    remaining = deadline.remaining()
    assert remaining is not None and 9.0 < remaining <= 10.0
    assert Deadline(time.monotonic() - 5).remaining() == 0.0


def test_a_deadline_expires_once_its_time_has_come():
    assert Deadline.after(60).expired() is False
    assert Deadline(time.monotonic() - 0.001).expired() is True
    short = Deadline.after(0.01)
    time.sleep(0.02)
    assert short.expired() is True


def test_earliest_picks_whichever_ends_first():
    soon, late = Deadline.after(1), Deadline.after(100)
    assert soon.earliest(late) is soon
    assert late.earliest(soon) is soon


def test_earliest_with_no_deadline_is_the_other_one():
    soon = Deadline.after(1)
    assert NEVER.earliest(soon) is soon
    assert soon.earliest(NEVER) is soon
    assert NEVER.earliest(NEVER) == NEVER


def test_extended_moves_the_deadline_later_and_leaves_no_deadline_alone():
    deadline = Deadline(100.0)
    assert deadline.extended(2.5) == Deadline(102.5)
    assert deadline == Deadline(100.0)  # a value: the original is unchanged
    assert NEVER.extended(2.5) == NEVER


def test_capped_bounds_a_wait_by_the_time_left():
    assert NEVER.capped(3.0) == 3.0
    assert Deadline.after(60).capped(3.0) == 3.0
    assert Deadline.after(0.5).capped(3.0) <= 0.5
    assert Deadline(time.monotonic() - 1).capped(3.0) == 0.0


def test_poll_ms_gives_the_remaining_time_in_whole_milliseconds():
    poll = Deadline.after(2.0).poll_ms()
    assert isinstance(poll, int)
    assert 1000 < poll <= 2000
    assert Deadline(time.monotonic() - 1).poll_ms() == 0
