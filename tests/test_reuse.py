"""Reusing actions from actions: through the executor, as the same caller."""

import time

from helpers import process_exists


def test_run_action_runs_another_action_and_returns_its_result(executor):
    result = executor.run("test.reuse_echo", {"output": "x"})
    assert result.is_success(), result.error
    assert result.data["data"] == "x"


def test_a_failed_nested_action_comes_back_as_an_error_result(executor):
    result = executor.run("test.reuse_fail")
    assert result.data == {"is_error": True, "error": "inner broke"}


def test_a_failed_nested_action_can_raise_action_exception_instead(executor):
    result = executor.run("test.reuse_fail", {"raise_on_error": True})
    assert result.is_error()
    assert result.error == "ActionException: action std.fail failed: inner broke"


def test_the_nesting_limit_is_a_clear_error_showing_the_chain(make_executor):
    ex = make_executor(max_nesting_depth=3)
    result = ex.run("test.recurse")
    assert result.is_error()
    chain = " -> ".join(["test.recurse"] * 5)
    assert f"nesting too deep: {chain}" in result.error
    assert "the limit is 3 (max_nesting_depth)" in result.error


def test_a_nested_action_runs_with_the_callers_security_and_a_recorded_parent(executor):
    context = {
        "security": {"auth_token": "tok-1", "project_id": "p1", "user_name": "ann"},
        "execution": {"workflow_execution_id": "wf-9", "action_execution_id": "a-1"},
    }
    result = executor.run("test.reuse_context", context=context)
    assert result.is_success(), result.error
    inner = result.data
    assert inner["security"]["auth_token"] == "tok-1"
    assert inner["security"]["user_name"] == "ann"
    assert inner["execution"]["workflow_execution_id"] == "wf-9"
    assert inner["execution"]["parent_actions"] == ["test.reuse_context"]


def test_a_nested_call_never_outlives_its_parent(executor, tmp_path):
    pidfile = tmp_path / "nested.pid"
    started = time.monotonic()
    result = executor.run("test.reuse_sleeper", {"pidfile": str(pidfile)}, timeout=1.5)
    assert result.error_type == "Timeout"
    assert time.monotonic() - started < 6
    deadline = time.monotonic() + 3
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    sleeper = int(pidfile.read_text())
    while process_exists(sleeper) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_exists(sleeper)


def test_nested_calls_do_not_deadlock_at_the_concurrency_limit(make_executor):
    ex = make_executor(max_concurrency=1, queue_size=0)
    result = ex.run("test.reuse_echo", {"output": "through"}, timeout=20)
    assert result.data["data"] == "through"


def test_the_nested_action_runs_in_its_own_process(executor):
    result = executor.run("test.reuse_echo", {"output": 1})
    assert result.data["pid"] == result.host_pid
    assert result.host_pid is not None
