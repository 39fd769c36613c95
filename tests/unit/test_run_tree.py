"""The run tree: nested runs, their context, cancellation and deadlines (executor.runs.tree.Run)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from executor.deadline import Deadline
from executor.runs.tree import Run
from protocol.messages import ActionContextModel, ExecutionContextModel, SecurityContextModel

if TYPE_CHECKING:
    from executor.hosts.session import HostSession


def _root(action: str = "outer", timeout: float | None = None, **params: object) -> Run:
    context = ActionContextModel(
        security=SecurityContextModel(
            auth_token="caller-token", project_id="p-1", user_name="alice"
        ),
        execution=ExecutionContextModel(
            workflow_execution_id="wf-1", parent_actions=["engine.task"]
        ),
    )
    return Run.root(action, context, dict(params), timeout)


class _Host:
    """What ``cancel()`` reaches through ``run.session.host``: records the kill."""

    def __init__(self) -> None:
        self.killed = 0

    def kill(self) -> None:
        self.killed += 1


class _Session:
    """Stands in for a ``HostSession``: ``cancel()`` only reaches ``session.host.kill()``."""

    def __init__(self) -> None:
        self.host = _Host()


def _attach(run: Run, session: _Session) -> bool:
    return run.attach(cast("HostSession", session))


# -- nesting -------------------------------------------------------------------


def test_a_nested_run_carries_the_chain_of_its_callers_outermost_first():
    root = _root("outer")
    middle = root.nest("middle", {}, None)
    inner = middle.nest("inner", {}, None)
    assert middle.context.execution.parent_actions == ["engine.task", "outer"]
    assert inner.context.execution.parent_actions == ["engine.task", "outer", "middle"]
    assert inner.chain == ["engine.task", "outer", "middle", "inner"]


def test_a_nested_run_keeps_the_callers_security_context_and_execution_ids():
    root = _root()
    child = root.nest("inner", {}, None)
    assert child.context.security == root.context.security
    assert child.context.execution.workflow_execution_id == "wf-1"


def test_nesting_does_not_change_the_parents_own_context():
    root = _root("outer")
    root.nest("inner", {}, None)
    assert root.context.execution.parent_actions == ["engine.task"]


def test_a_nested_run_is_one_level_deeper_and_listed_under_its_parent():
    root = _root()
    child = root.nest("inner", {}, None)
    assert (root.depth, child.depth) == (0, 1)
    assert child.parent is root
    assert root.children == [child]


def test_a_nested_run_redacts_the_callers_secrets_and_its_own():
    root = _root(password="outer-secret")
    child = root.nest("inner", {"api_key": "inner-secret"}, None)
    assert child.redact("outer-secret inner-secret caller-token") == "*** *** ***"
    assert root.redact("inner-secret") == "inner-secret"  # the parent never saw it


def test_a_run_nested_under_a_cancelled_run_starts_cancelled():
    root = _root()
    root.cancel()
    assert root.nest("inner", {}, None).cancelled is True


def test_a_run_nested_under_a_finished_run_starts_cancelled():
    root = _root()
    root.finish()
    assert root.nest("inner", {}, None).cancelled is True


# -- cancellation -----------------------------------------------------------------


def test_cancel_cascades_to_every_nested_run_and_marks_it():
    root = _root()
    child = root.nest("middle", {}, None)
    grandchild = child.nest("inner", {}, None)
    root.cancel()
    assert (root.cancelled, child.cancelled, grandchild.cancelled) == (True, True, True)


def test_cancel_kills_the_host_of_each_run_in_the_tree():
    root = _root()
    child = root.nest("inner", {}, None)
    root_session, child_session = _Session(), _Session()
    assert _attach(root, root_session) is True
    assert _attach(child, child_session) is True
    root.cancel()
    assert (root_session.host.killed, child_session.host.killed) == (1, 1)


def test_cancel_of_a_finished_run_does_nothing():
    root = _root()
    session = _Session()
    _attach(root, session)
    root.finish()
    root.cancel()
    assert root.cancelled is False
    assert session.host.killed == 0


def test_attaching_a_host_to_a_run_cancelled_meanwhile_says_so():
    root = _root()
    root.cancel()
    assert _attach(root, _Session()) is False


def test_finish_cancels_nested_runs_still_going():
    root = _root()
    running = root.nest("still_running", {}, None)
    root.finish()
    assert root.done is True
    assert running.cancelled is True


def test_finish_leaves_nested_runs_that_already_finished_alone():
    root = _root()
    finished = root.nest("finished", {}, None)
    finished.finish()
    root.finish()
    assert finished.cancelled is False


# -- deadlines --------------------------------------------------------------------


def test_a_root_run_without_timeout_has_no_deadline_when_armed():
    root = _root(timeout=None)
    assert root.arm().is_set is False
    assert root.limited_by_parent is False


def test_arm_starts_the_runs_clock_when_its_host_is_ready():
    root = _root(timeout=5.0)
    before = root.deadline
    time.sleep(0.01)  # time spent waiting for a slot or a host
    armed = root.arm()
    assert armed.at is not None and before.at is not None
    assert armed.at > before.at
    assert root.deadline == armed


def test_an_armed_nested_run_never_outlives_its_parent():
    root = _root(timeout=0.5)
    root.arm()
    child = root.nest("inner", {}, timeout=60.0)
    armed = child.arm()
    assert armed == root.deadline
    assert child.limited_by_parent is True


def test_an_armed_nested_run_with_a_shorter_timeout_keeps_its_own():
    root = _root(timeout=60.0)
    root.arm()
    child = root.nest("inner", {}, timeout=0.5)
    armed = child.arm()
    assert armed.at is not None and root.deadline.at is not None
    assert armed.at < root.deadline.at
    assert child.limited_by_parent is False


def test_a_nested_run_without_timeout_inherits_the_parents_deadline():
    root = _root(timeout=1.0)
    root.arm()
    child = root.nest("inner", {}, timeout=None)
    assert child.deadline == root.deadline
    assert child.arm() == root.deadline


def test_a_nested_runs_wait_is_bounded_by_its_parent_before_it_is_armed():
    root = _root(timeout=0.5)
    root.arm()
    child = root.nest("inner", {}, timeout=60.0)
    assert child.deadline == root.deadline


def test_the_root_runs_deadline_bounds_its_wait_for_a_slot():
    root = _root(timeout=30.0)
    remaining = root.deadline.remaining()
    assert remaining is not None and 29.0 < remaining <= 30.0
    assert Deadline.after(None) == _root(timeout=None).deadline


# -- logs -------------------------------------------------------------------------


def test_a_runs_log_lines_are_redacted():
    root = _root(token="super-secret-value")
    root.log(20, "stderr", "using super-secret-value now")
    assert root.logs == ["using *** now"]
