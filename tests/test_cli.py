"""``action-executor``: output, exit codes, parameter parsing."""

import json
import os
import subprocess
from importlib import metadata

import pytest
import yaml
from helpers import venv_bin

from executor.cli import UsageError, build_parser, parse_params
from executor.cli.completion import _walk


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
    assert "[action.std.fail]" in proc.stderr  # the action's log goes to stderr


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


def test_refused_requests_exit_2_and_print_the_result(state_dir):
    for args, kind in (
        (["run", "std.echo"], "InvalidInput"),
        (["run", "no.such.action"], "ActionNotFound"),
    ):
        proc = _run(args, state_dir)
        assert proc.returncode == 2, args
        assert json.loads(proc.stdout)["error_type"] == kind


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


def test_help_is_available_for_every_command():
    parser = build_parser()
    for path, sub in _walk(parser):
        text = sub.format_help()
        assert text.startswith("usage: action-executor"), path


def test_help_documents_the_exit_codes():
    text = build_parser().format_help()
    assert "exit codes:" in text
    assert "0  success" in text
    assert "1  the action failed" in text
    assert "2  the request was refused and nothing ran" in text


def test_version_prints_the_distribution_and_protocol_versions(state_dir):
    from protocol import PROTOCOL_VERSION

    proc = _run(["--version"], state_dir)
    assert proc.returncode == 0
    assert proc.stdout.strip() == (
        f"action-executor {metadata.version('mistral-action-host')} (protocol {PROTOCOL_VERSION})"
    )


def test_actions_take_format_and_columns_like_the_openstack_clients(state_dir):
    as_json = json.loads(
        _run(["actions", "-f", "json", "-c", "name", "-c", "wins"], state_dir).stdout
    )
    assert {"name": "std.echo", "wins": "yes"} in as_json
    assert all(list(row) == ["name", "wins"] for row in as_json)
    as_yaml = yaml.safe_load(_run(["actions", "-f", "yaml", "-c", "name"], state_dir).stdout)
    assert {"name": "std.noop"} in as_yaml
    values = _run(["actions", "-f", "value", "-c", "name", "-c", "environment"], state_dir)
    assert "std.echo default" in values.stdout.splitlines()


def test_an_unknown_column_is_refused_with_the_choices(state_dir):
    proc = _run(["actions", "-c", "nmae"], state_dir)
    assert proc.returncode == 2
    assert "unknown column 'nmae' for -c; choose from: name, environment" in proc.stderr


def test_env_list_and_show_take_format_and_columns(state_dir):
    names = _run(["env", "list", "-f", "value", "-c", "name"], state_dir).stdout.split()
    assert names[0] == "default"
    shown = json.loads(_run(["env", "show", "default", "-f", "json"], state_dir).stdout)
    assert (
        shown["python"]
        and {"name": "std.echo", "parameters": "output, delay=0", "error": None} in shown["actions"]
    )


def test_completion_bash_prints_a_script_that_completes_commands_and_actions(state_dir, tmp_path):
    script = tmp_path / "completion.bash"
    script.write_text(_run(["completion", "bash"], state_dir).stdout)
    probe = f"""
    source {script}
    complete_words() {{
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _action_executor; echo "${{COMPREPLY[*]}}"
    }}
    complete_words action-executor en
    complete_words action-executor env sh
    complete_words action-executor run std.ec
    """
    env = dict(
        os.environ,
        ACTION_EXECUTOR_STATE_DIR=str(state_dir),
        PATH=os.path.dirname(venv_bin("action-executor")) + os.pathsep + os.environ["PATH"],
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.splitlines() == ["env", "show", "std.echo"], out.stderr


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
