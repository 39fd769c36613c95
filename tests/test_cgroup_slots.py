"""An action's cgroup is reused, and neither directories nor descriptors pile
up when something outlives its action for a moment (the soak's crash and
timeout cases)."""

import os
import subprocess

import pytest

from executor.sandbox import cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes cgroups as root (CI runs as root)")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def unit():
    tree = cgroups.Tree.create(cgroups.Limits(processes=64))
    made = cgroups.Unit(tree, "t-slots", cgroups.Limits(processes=64))
    made.create()
    yield made
    made.remove()
    tree.remove()


def _occupied(unit: cgroups.Unit) -> tuple[cgroups.Slot, subprocess.Popen[bytes]]:
    slot = unit.take()
    proc = subprocess.Popen(["sleep", "60"])
    slot.add(proc.pid)
    return slot, proc


def test_a_slot_given_back_while_a_process_lingers_holds_no_descriptors(unit):
    slot, proc = _occupied(unit)
    try:
        before = _fds()
        unit.give_back(slot)
        assert _fds() < before
    finally:
        proc.kill()
        proc.wait()


def test_a_slot_is_not_handed_out_while_a_process_lingers_in_it(unit):
    slot, proc = _occupied(unit)
    try:
        unit.give_back(slot)
        other = unit.take()
        assert other.name != slot.name
    finally:
        proc.kill()
        proc.wait()


def test_a_lingering_slot_is_reused_once_empty(unit):
    slot, proc = _occupied(unit)
    unit.give_back(slot)
    proc.kill()
    proc.wait()
    again = unit.take()
    assert again.name == slot.name
    other = subprocess.Popen(["sleep", "60"])
    try:
        again.add(other.pid)  # its files reopened
        with open(os.path.join(again.path("pids") or "", "cgroup.procs")) as f:
            assert str(other.pid) in f.read().split()
    finally:
        other.kill()
        other.wait()


def test_idle_slots_hold_no_descriptors_after_a_rest(unit):
    slots = [unit.take() for _ in range(3)]
    for slot in slots:
        slot.usage()  # its counters' files opened
        unit.give_back(slot)
    before = _fds()
    unit.rest()
    assert _fds() <= before - 3
