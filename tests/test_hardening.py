"""Limits and edge cases: resource limits, fan-out caps, deadlines, frame sizes."""

import os
import signal
import time

import pytest


def test_hosts_run_under_the_configured_resource_limits(make_executor):
    for launcher in ("fork", "spawn"):
        ex = make_executor(launcher=launcher, limits={"open_files": 77, "file_size": 10**6})
        result = ex.run("test.limits")
        assert result.data == {"open_files": 77, "file_size": 10**6}, (launcher, result.error)


def test_nested_runs_beyond_the_cap_are_refused_at_once_not_queued(make_executor):
    ex = make_executor(max_nested_runs=2)
    started = time.monotonic()
    result = ex.run("test.fan_out", {"n": 4, "seconds": 1}, timeout=30)
    errors = result.data
    assert sum(e is None for e in errors) == 2
    refused = [e for e in errors if e]
    assert len(refused) == 2
    assert all("too many nested actions running at once (2, max_nested_runs)" in e for e in refused)
    assert time.monotonic() - started < 10


def test_secrets_passed_to_nested_actions_are_redacted_too(executor):
    result = executor.run("test.nested_secret")
    assert "nested-pass-9876" not in str(result.data)
    assert "nested-pass-9876" not in " ".join(result.logs)


def test_a_run_never_outlasts_its_deadline_while_the_template_is_wedged(make_executor):
    ex = make_executor(spare_children=0, template_fork_timeout=30)
    ex.run("std.noop")
    template = ex.stats().templates[ex.default_env.name]
    os.kill(template, signal.SIGSTOP)
    try:
        started = time.monotonic()
        result = ex.run("std.echo", {"output": "late"}, timeout=1)
        elapsed = time.monotonic() - started
    finally:
        try:
            os.kill(template, signal.SIGCONT)
        except ProcessLookupError:
            pass  # replaced: the executor killed the wedged template
    assert result.error_type == "Timeout", result
    assert elapsed < 4


def test_the_soft_cancel_reaches_the_action(make_executor):
    ex = make_executor(cancel_grace=3)
    result = ex.run("test.cooperative", timeout=0.5)
    assert result.data == "stopped when asked"


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_a_raised_frame_size_applies_to_both_sides(make_executor, launcher):
    ex = make_executor(launcher=launcher, max_frame_size=64 * 1024 * 1024)
    blob = "x" * (20 * 1024 * 1024)
    result = ex.run("test.size", {"blob": blob}, timeout=60)
    assert result.data == len(blob), result.error


def test_a_request_larger_than_the_frame_size_is_refused_as_invalid_input(make_executor):
    ex = make_executor(max_frame_size=1024 * 1024)
    result = ex.run("test.size", {"blob": "x" * (2 * 1024 * 1024)})
    assert result.error_type == "InvalidInput"
    assert "more than max_frame_size" in result.error
