"""A child's entry into its sandbox is an ordered list of named steps."""

from __future__ import annotations

import os

import pytest

from action_host.sandbox import ENTERED, STEPS, Prepared, SandboxError, Spec, enter

NOTHING = Spec(
    network="host",
    private_filesystem=False,
    tmpfs_size=0,
    pid_namespace=False,
    max_processes=None,
    seccomp=False,
    landlock=False,
    devpts=False,
    isolated=False,
    uids=1,
    tmp_exposed=(),
)


def test_the_steps_run_in_the_order_each_depends_on():
    names = [step.__name__ for step in STEPS]
    assert names == [
        "namespaces",
        "private_tmp",
        "proc",
        "loopback",
        "leave_template_pid_namespace",
        "identity",
        "no_new_privs",
        "landlock",
        "workdir",
        "seccomp",
    ]


def test_a_failing_step_names_itself_and_no_later_step_runs():
    closed = os.open(os.devnull, os.O_RDONLY)
    os.close(closed)  # a pid namespace descriptor that is no longer open
    ENTERED.clear()
    with pytest.raises(SandboxError, match="sandbox step 'leave_template_pid_namespace' failed"):
        enter(Prepared(NOTHING, pidns_fd=closed), uid=None, workdir=None)
    assert list(ENTERED) == ["namespaces", "private_tmp", "proc", "loopback"]
