"""What a newcomer met following README.rst and docs/ word for word (issue 14),
one test per friction: each states the behaviour that replaced it."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from helpers import ROOT, venv_bin

from actions_api import ActionContext, ExecutionContext, SecurityContext
from executor.cli import UsageError, parse_params
from executor.cli.common import parse_context
from executor.environments.wheels import build_wheel

USER_DOCS = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.md"))]


def cli(*args: str, state_dir, cwd=None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(state_dir))
    return subprocess.run(
        [venv_bin("action-executor"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


# -- the documentation stands alone ------------------------------------------


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: p.name)
def test_the_docs_name_no_path_outside_the_repository(doc):
    text = doc.read_text()
    assert not re.search(r"(?<!\.)\.\./", text), "a path outside the repository"
    assert "shared/" not in text and "DESIGN.md" not in text
    assert not re.search(r"\btargets? (of )?\d", text), "figures are measured, not targets"


@pytest.mark.parametrize("doc", USER_DOCS, ids=lambda p: p.name)
def test_every_repository_path_the_docs_name_exists(doc):
    text = doc.read_text()
    named = set(re.findall(r"``((?:docs|benchmarks|examples|tests|etc)/[\w./-]+)``", text))
    named |= set(re.findall(r"`((?:docs|benchmarks|examples|tests|etc)/[\w./-]+)`", text))
    named |= {
        str(doc.parent.relative_to(ROOT) / link) for link in re.findall(r"\]\(([\w./-]+)\)", text)
    }
    missing = sorted(p for p in named if not (ROOT / p.rstrip(".")).exists())
    assert not missing


def test_the_readme_links_the_architecture_floors_and_reference_pages():
    readme = (ROOT / "README.rst").read_text()
    for page in ("docs/architecture.md", "docs/floors.md", "docs/reference/index.rst"):
        assert page in readme


def test_the_readme_benchmark_command_runs_from_the_projects_venv():
    readme = (ROOT / "README.rst").read_text()
    assert "make bench" in readme
    assert "python benchmarks/run.py" not in readme.replace(".venv/bin/python benchmarks", "")
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^bench:.*\n\t(.+)$", makefile, re.M)
    assert recipe and recipe[1] == "$(BIN)/python benchmarks/run.py --quick"


# -- the tutorial's install -------------------------------------------------------


def test_installing_a_path_that_does_not_exist_says_so_before_uv_runs(tmp_path):
    proc = cli("install", "--env", "greetings", "./my-actions", state_dir=tmp_path, cwd=tmp_path)
    assert proc.returncode == 2
    assert f"./my-actions does not exist (looked for {tmp_path}/my-actions from {tmp_path})" in (
        proc.stderr
    )
    assert "==>" not in proc.stderr  # nothing was built
    assert not (tmp_path / "envs").exists()


def test_installing_a_folder_that_is_no_package_says_what_is_missing(tmp_path):
    (tmp_path / "my-actions").mkdir()
    proc = cli("install", "--env", "greetings", "./my-actions", state_dir=tmp_path, cwd=tmp_path)
    assert proc.returncode == 2
    assert "holds no pyproject.toml or setup.py" in proc.stderr


# -- the default environment ------------------------------------------------------


def test_env_list_shows_the_default_environment_as_the_executors_own(state_dir):
    proc = cli("env", "list", "-f", "json", state_dir=state_dir)
    default = json.loads(proc.stdout)[0]
    assert default["name"] == "default" and default["kind"] == "builtin"
    assert default["python"] == venv_bin("python")


def test_env_show_default_shows_its_interpreter_and_the_std_actions(state_dir):
    proc = cli("env", "show", "default", state_dir=state_dir)
    assert proc.returncode == 0, proc.stderr
    assert f"python:       {venv_bin('python')}" in proc.stdout.splitlines()
    assert "  std.echo  (output, delay=0)" in proc.stdout.splitlines()


def test_env_create_default_is_refused_saying_why_and_what_to_do(state_dir):
    proc = cli("env", "create", "default", state_dir=state_dir)
    assert proc.returncode == 2
    assert "'default': it is the executor's own environment" in proc.stderr
    assert "--env NAME to choose one" not in proc.stderr  # env create has no --env
    assert "'action-executor env show default' shows it" in proc.stderr


# -- what run and actions say ---------------------------------------------------


def test_run_says_which_environment_ran_the_action(state_dir):
    out = json.loads(cli("run", "std.echo", "output=hi", state_dir=state_dir).stdout)
    assert out["environment"] == "default" and out["is_sync"] is True


def test_run_says_an_async_action_is_async(state_dir):
    proc = cli("run", "std.async_noop", state_dir=state_dir)
    out = json.loads(proc.stdout)
    assert out["is_sync"] is False and out["data"] is None
    assert "note: std.async_noop is asynchronous" in proc.stderr


def test_the_cli_prints_timings_under_the_apis_name_and_unit(state_dir, fork_executor):
    out = json.loads(cli("run", "std.noop", state_dir=state_dir).stdout)
    api = fork_executor.run("std.noop")
    assert "timings_ms" not in out
    assert set(out["timings"]) == set(api.timings)
    assert 0 < out["timings"]["total"] < 60  # seconds, as Result.timings


@pytest.mark.slow
def test_actions_marks_which_environment_wins_a_name(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    source = b"from actions_api import Action\nclass Echo(Action):\n    def run(self, context):\n        return 'shadow'\n"  # noqa: E501
    build_wheel(
        str(wheels),
        "shadow-echo",
        "1.0",
        {"shadow_echo.py": source},
        entry_points={"mistral.actions": {"std.echo": "shadow_echo:Echo"}},
    )
    state = tmp_path / "state"
    installed = cli(
        "install",
        "--env",
        "shadow",
        "--prefer",
        "--offline",
        "--find-links",
        str(wheels),
        "shadow-echo",
        state_dir=state,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    rows = cli(
        "actions", "-f", "value", "-c", "name", "-c", "environment", "-c", "wins", state_dir=state
    )
    lines = rows.stdout.splitlines()
    assert "std.echo shadow yes" in lines
    assert "std.echo default no" in lines
    assert json.loads(cli("run", "std.echo", state_dir=state).stdout)["environment"] == "shadow"


# -- parameters and context -----------------------------------------------------


def test_a_value_that_looks_like_json_must_parse():
    with pytest.raises(UsageError) as info:
        parse_params(["output=[1, 2"], None)
    assert "the value of output looks like JSON but does not parse" in str(info.value)
    assert "quote it as a JSON string: output='\"[1, 2\"'" in str(info.value)


def test_the_quoting_the_error_suggests_passes_the_text(state_dir):
    proc = cli("run", "std.echo", 'output="[1, 2"', state_dir=state_dir)
    assert json.loads(proc.stdout)["data"] == "[1, 2"


def test_a_broken_json_value_exits_2_and_runs_nothing(state_dir):
    proc = cli("run", "std.echo", "output={1", state_dir=state_dir)
    assert proc.returncode == 2 and proc.stdout == ""


def test_an_unknown_context_field_is_named_with_the_field_it_resembles():
    with pytest.raises(UsageError) as info:
        parse_context('{"security": {"user": "ann"}}')
    assert str(info.value) == "--context: unknown field security.user; did you mean user_name?"


def test_a_context_error_never_echoes_the_value(state_dir):
    proc = cli(
        "run",
        "std.noop",
        "--context",
        '{"security": {"auth_token": ["s3cr3t-token"], "usr_name": "x"}}',
        state_dir=state_dir,
    )
    assert proc.returncode == 2
    assert "field security.auth_token: Input should be a valid string" in proc.stderr
    assert "unknown field security.usr_name; did you mean user_name?" in proc.stderr
    assert "s3cr3t" not in proc.stderr and "pydantic.dev" not in proc.stderr


def test_invalid_input_and_unknown_action_exit_2(state_dir):
    assert cli("run", "std.echo", state_dir=state_dir).returncode == 2  # output missing
    assert cli("run", "std.ech", state_dir=state_dir).returncode == 2


# -- failures -------------------------------------------------------------------


def test_an_action_exception_prints_its_message_not_a_traceback(state_dir):
    proc = cli("run", "std.fail", state_dir=state_dir)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert (
        "[action.std.fail] action std.fail failed: Fail action expected exception. "
        "(-v shows the traceback)"
    ) in proc.stderr.splitlines()


def test_verbose_shows_the_traceback_of_an_action_exception(state_dir):
    proc = cli("-v", "run", "std.fail", state_dir=state_dir)
    assert "[action.std.fail] Traceback (most recent call last):" in proc.stderr


# -- the Python API ---------------------------------------------------------------


def test_executor_run_takes_the_public_action_context(fork_executor):
    context = ActionContext(
        security=SecurityContext(user_name="ann", project_id="p1"),
        execution=ExecutionContext(workflow_name="wf"),
    )
    result = fork_executor.run("test.context", context=context)
    assert result.is_success(), result.error
    assert result.data["security"]["user_name"] == "ann"
    assert result.data["security"]["project_id"] == "p1"
    assert result.data["execution"]["workflow_name"] == "wf"
