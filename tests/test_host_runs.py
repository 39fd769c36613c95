"""Running actions in real host processes: results, output, crashes, timeouts."""

import logging
import os
import signal
import time

import pytest
from helpers import process_exists


def test_std_echo_returns_its_output(executor):
    result = executor.run("std.echo", {"output": "hello"})
    assert result.is_success()
    assert result.data == "hello"


def test_each_run_happens_in_a_fresh_host_process(executor):
    first = executor.run("test.counter")
    second = executor.run("test.counter")
    assert first.data["counter"] == second.data["counter"] == 1
    assert first.data["pid"] != second.data["pid"] != os.getpid()


def test_print_and_raw_fd_writes_become_logs_not_protocol_corruption(executor, caplog):
    caplog.set_level(logging.DEBUG, logger="action")
    result = executor.run("test.print")
    assert result.data == "done"
    for line in (
        "hello from print",
        "hello from sys.stderr",
        "hello from fd 1",
        "hello from fd 2",
    ):
        assert line in result.logs
        assert any(line == r.getMessage() for r in caplog.records)


def test_a_raised_exception_becomes_an_error_with_its_type_and_message(executor):
    result = executor.run("test.raise", {"message": "kaputt"})
    assert result.is_error()
    assert result.error == "ValueError: kaputt"
    assert result.error_type == "ActionRaised"
    assert result.exception == "ValueError"
    assert any("Traceback" in line for line in result.logs)


def test_an_error_result_returned_by_the_action_is_kept_as_is(executor):
    result = executor.run("test.result_error")
    assert result.is_error()
    assert result.error == {"reason": "bad"}
    assert result.error_type == "ActionError"
    assert result.exception is None


def test_sys_exit_in_an_action_is_an_error_not_a_dead_host(executor):
    result = executor.run("test.sys_exit")
    assert result.error == "SystemExit: 4"


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("test.exit", "exited with code 3"),
        ("test.segfault", "SIGSEGV"),
        ("test.kill_self", "SIGKILL"),
    ],
)
def test_a_host_that_dies_gives_an_error_naming_the_cause(executor, action, expected):
    result = executor.run(action)
    assert result.is_error()
    assert result.error_type == "HostCrashed"
    assert expected in result.error
    assert "before answering" in result.error


def test_a_timeout_kills_the_action_and_every_process_it_started(executor, tmp_path):
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    result = executor.run("test.spawn_sleeper", {"pidfile": str(pidfile)}, timeout=1)
    assert time.monotonic() - started < 5
    assert result.error_type == "Timeout"
    assert "timed out after" in result.error
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 2
    while process_exists(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_exists(child)
    assert not process_exists(result.host_pid)


def test_processes_an_action_leaves_behind_are_killed_when_it_returns(executor, tmp_path):
    pidfile = tmp_path / "child.pid"
    result = executor.run("test.spawn_sleeper", {"pidfile": str(pidfile), "hang": False})
    assert result.is_success()
    deadline = time.monotonic() + 2
    while process_exists(result.data) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not process_exists(result.data)


def test_missing_parameters_are_refused_before_any_host_starts(executor):
    result = executor.run("std.echo", {})
    assert result.error_type == "InvalidInput"
    assert "missing required parameter(s): output" in result.error
    assert result.host_pid is None


def test_unexpected_parameters_are_refused_before_the_action_runs(executor, tmp_path):
    target = tmp_path / "ran"
    result = executor.run("test.touch", {"path": str(target), "colour": "red"})
    assert result.error_type == "InvalidInput"
    assert "unexpected parameter(s): colour" in result.error
    assert not target.exists()


def test_an_action_taking_kwargs_accepts_any_parameter(executor):
    result = executor.run("test.kwargs", {"a": 1, "b": [2]})
    assert result.data == {"a": 1, "b": [2]}


def test_an_unknown_action_names_close_matches(executor):
    result = executor.run("std.ecko", {"output": 1})
    assert result.error_type == "ActionNotFound"
    assert "std.echo" in result.error


def test_a_broken_plugin_is_a_clear_error_when_run(executor):
    result = executor.run("test.broken")
    assert result.error_type == "ActionLoadError"
    assert "this_module_does_not_exist" in result.error


def test_an_unserializable_result_names_the_type_and_its_path(executor):
    result = executor.run("test.unserializable")
    assert result.is_error()
    assert "builtins.object" in result.error
    assert "$.data.servers[2].created" in result.error


def test_the_context_reaches_the_action(executor):
    context = {
        "security": {"auth_token": "tok", "project_id": "p1", "user_name": "u"},
        "execution": {"workflow_execution_id": "wf-1", "task_execution_id": "t-1"},
    }
    result = executor.run("test.context", context=context)
    assert result.data["security"]["project_id"] == "p1"
    assert result.data["security"]["auth_token"] == "tok"
    assert result.data["execution"]["workflow_execution_id"] == "wf-1"


def test_an_invalid_context_is_refused(executor):
    result = executor.run("std.noop", context={"security": {"no_such_field": 1}})
    assert result.error_type == "InvalidContext"
    assert "no_such_field" in result.error


def test_old_style_run_without_context_works_with_a_deprecation_warning(executor):
    result = executor.run("test.old_style")
    assert result.data == "old style works"
    warning = [line for line in result.logs if "DeprecationWarning" in line]
    assert warning and "OldStyleAction.run() takes no context" in warning[0]
    assert "run(self, context)" in warning[0]


def test_async_actions_report_is_sync_false(executor):
    assert executor.run("std.async_noop").is_sync is False
    assert executor.run("std.noop").is_sync is True


def test_dry_run_calls_test_instead_of_run(executor, tmp_path):
    target = tmp_path / "never"
    result = executor.run("test.touch", {"path": str(target)}, dry_run=True)
    assert result.is_success()
    assert result.data["dry_run"] is True
    assert result.data["would_run_with"]["path"] == str(target)
    assert not target.exists()


def test_phase_timings_are_reported(executor):
    result = executor.run("std.noop")
    assert {"queue_wait", "host_start", "load", "run", "transfer", "total"} <= set(result.timings)
    assert result.timings["total"] >= result.timings["run"]


def test_a_host_does_not_inherit_the_executor_environment(executor, monkeypatch):
    monkeypatch.setenv("EXECUTOR_SECRET", "s3cr3t")
    result = executor.run("test.env_leak")
    assert "EXECUTOR_SECRET" not in result.data["environ_keys"]
    assert result.data["cwd"] != os.getcwd()


def test_killing_the_host_from_outside_is_reported(executor, tmp_path):
    pidfile = tmp_path / "p"
    import threading

    def killer():
        deadline = time.monotonic() + 10
        while not pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)
        os.killpg(os.getpgid(int(pidfile.read_text())), signal.SIGKILL)

    thread = threading.Thread(target=killer)
    thread.start()
    result = executor.run("test.spawn_sleeper", {"pidfile": str(pidfile)}, timeout=20)
    thread.join()
    assert result.error_type == "HostCrashed"
    assert "SIGKILL" in result.error
