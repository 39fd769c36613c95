"""``action-executor``: output, exit codes, parameter parsing."""

import json
import os
import subprocess

import pytest
from helpers import venv_bin

from executor.cli import UsageError, parse_params


def _run(args, state_dir, plugin_site=None):
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(state_dir))
    return subprocess.run(
        [venv_bin("action-executor"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_run_prints_the_result_as_json_and_exits_0(state_dir):
    proc = _run(["run", "std.echo", "output=hello"], state_dir)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["success"] is True
    assert out["data"] == "hello"


def test_a_failed_action_exits_1_and_still_prints_the_result(state_dir):
    proc = _run(["run", "std.fail"], state_dir)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["error"] == "ActionException: Fail action expected exception."
    assert "Traceback" in proc.stderr  # the action's log goes to stderr


def test_bad_usage_exits_2_with_a_message_naming_the_fix(state_dir):
    proc = _run(["run", "std.echo", "not-a-pair"], state_dir)
    assert proc.returncode == 2
    assert "is not KEY=VALUE" in proc.stderr


def test_an_unknown_option_exits_2(state_dir):
    assert _run(["run", "--no-such-option", "std.echo"], state_dir).returncode == 2


def test_no_command_prints_help_and_exits_2(state_dir):
    proc = _run([], state_dir)
    assert proc.returncode == 2
    assert "COMMAND" in proc.stderr


def test_timeout_kills_the_action_and_exits_1(state_dir):
    proc = _run(["run", "std.sleep", "seconds=30", "--timeout", "1"], state_dir)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["error_type"] == "Timeout"


def test_params_and_context_json_options(state_dir):
    proc = _run(
        [
            "run",
            "std.echo",
            "--params",
            '{"output": {"a": [1, 2]}}',
            "--context",
            '{"execution": {"workflow_name": "wf"}}',
        ],
        state_dir,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == {"a": [1, 2]}


def test_dry_run_calls_test(state_dir):
    proc = _run(["run", "--dry-run", "std.echo", "output=x"], state_dir)
    assert json.loads(proc.stdout)["data"] == "Echo"


def test_actions_lists_actions_with_parameters(state_dir):
    proc = _run(["actions"], state_dir)
    assert proc.returncode == 0
    assert any(
        line.startswith("std.echo") and "output, delay=0" in line
        for line in proc.stdout.splitlines()
    )


def test_help_is_available_for_every_command(state_dir):
    for args in (["--help"], ["run", "--help"], ["actions", "--help"]):
        proc = _run(args, state_dir)
        assert proc.returncode == 0
        assert "usage:" in proc.stdout


@pytest.mark.parametrize(
    ("pair", "value"),
    [
        ("n=3", 3),
        ("f=0.5", 0.5),
        ("s=hello", "hello"),
        ("b=true", True),
        ("l=[1, 2]", [1, 2]),
        ('q="3"', "3"),
        ("e=", ""),
    ],
)
def test_values_are_json_when_they_parse_else_strings(pair, value):
    key = pair.split("=")[0]
    assert parse_params([pair], None) == {key: value}


def test_params_json_must_be_an_object():
    with pytest.raises(UsageError, match="must be a JSON object"):
        parse_params([], "[1]")
