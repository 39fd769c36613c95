"""``action-executor run --context``: JSON, ``@FILE`` and ``-`` (stdin); tokens never in argv.

The runs go through a real executor with the default sandbox. The action that
shows what it received lives in a world-readable directory outside pytest's
0700 tmp dirs (the sandboxed host runs as its own uid), put on the hosts'
PYTHONPATH of an environment made for these tests (``env create`` + ``env set``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import install_plugin, venv_bin

TOKEN = "gAAAAA-very-secret-token-42"
CONTEXT = {
    "security": {"auth_token": TOKEN, "user_name": "ann"},
    "execution": {"workflow_name": "wf"},
}
SHOWN = {
    "user": "ann",
    "token_sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
    "workflow": "wf",
}

SHOW_CONTEXT = """\
import hashlib

from actions_api import Action


class ShowContext(Action):
    \"\"\"What the action received, with the token as its digest only.\"\"\"

    def run(self, context):
        token = context.security.auth_token or ""
        return {
            "user": context.security.user_name,
            "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "workflow": context.execution.workflow_name,
        }
"""


@pytest.fixture(scope="module")
def cli_env() -> Iterator[dict[str, str]]:
    """Environment variables for the CLI: a state dir with an environment ``ctx``
    whose hosts import ``ctx.show`` from a world-readable site."""
    root = Path(tempfile.mkdtemp(prefix="cli-context-"))
    try:
        root.chmod(0o755)
        site = install_plugin(
            root / "site",
            "ctxshow",
            "1.0",
            {"ctxshow": SHOW_CONTEXT},
            {"ctx.show": "ctxshow:ShowContext"},
        )
        for path in [site, *site.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(root / "state"))
        for args in (
            ["env", "create", "ctx", "--offline"],
            ["env", "set", "ctx", f"env.PYTHONPATH={site}"],
        ):
            proc = _cli(args, env)
            assert proc.returncode == 0, proc.stderr
        yield env
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _cli(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [venv_bin("action-executor"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_context_from_a_file_reaches_the_action(cli_env, tmp_path):
    path = tmp_path / "ctx.json"
    path.write_text(json.dumps(CONTEXT))
    proc = _cli(["run", "ctx.show", "--context", f"@{path}"], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == SHOWN
    assert "warning" not in proc.stderr


def test_context_from_stdin_reaches_the_action(cli_env):
    proc = _cli(["run", "ctx.show", "--context", "-"], cli_env, stdin=json.dumps(CONTEXT))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == SHOWN


def test_a_token_in_the_command_line_still_runs_but_warns_to_use_a_file_or_stdin(cli_env):
    proc = _cli(["run", "ctx.show", "--context", json.dumps(CONTEXT)], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == SHOWN
    assert "--context @FILE or --context - (stdin)" in proc.stderr


def test_a_context_without_credentials_in_the_command_line_gives_no_warning(cli_env):
    proc = _cli(["run", "ctx.show", "--context", '{"execution": {"workflow_name": "wf"}}'], cli_env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["workflow"] == "wf"
    assert "warning" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"security": {"auth_token": "TOKEN", "user_nme": "ann"}}',
            "--context @FILE: unknown field security.user_nme; did you mean user_name?",
        ),
        (
            '{"security": {"auth_token": ["TOKEN"]}}',
            "--context @FILE: field security.auth_token: Input should be a valid string",
        ),
        ('{"security": {"auth_token": "TOKEN"', "--context @FILE is not valid JSON"),
        ('["TOKEN"]', "--context @FILE must be a JSON object"),
    ],
    ids=["misspelt field", "wrong type", "truncated JSON", "not an object"],
)
def test_a_malformed_context_file_is_refused_by_field_without_echoing_the_token(
    cli_env, tmp_path, text, message
):
    path = tmp_path / "ctx.json"
    path.write_text(text.replace("TOKEN", TOKEN))
    proc = _cli(["run", "ctx.show", "--context", f"@{path}"], cli_env)
    assert proc.returncode == 2
    assert message.replace("@FILE", f"@{path}") in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout
    assert proc.stdout == ""  # refused before anything ran


def test_a_malformed_context_on_stdin_names_stdin_and_never_echoes_the_token(cli_env):
    text = json.dumps({"security": {"auth_tokn": TOKEN}})
    proc = _cli(["run", "ctx.show", "--context", "-"], cli_env, stdin=text)
    assert proc.returncode == 2
    assert "--context -: unknown field security.auth_tokn; did you mean auth_token?" in proc.stderr
    assert TOKEN not in proc.stderr + proc.stdout


def test_a_context_that_is_not_utf8_is_refused_without_quoting_its_bytes(cli_env, tmp_path):
    path = tmp_path / "ctx.json"
    path.write_bytes(b'{"security": {"auth_token": "\xff' + TOKEN.encode() + b'"}}')
    proc = _cli(["run", "ctx.show", "--context", f"@{path}"], cli_env)
    assert proc.returncode == 2
    assert f"--context @{path}: not UTF-8 text" in proc.stderr
    assert TOKEN not in proc.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("@{missing}", "--context @{missing}: cannot read {missing}: No such file or directory"),
        ("@{empty}", "--context @{empty}: {empty} is empty; it must hold a JSON object"),
        ("@", "--context @FILE needs a file name after the @"),
    ],
    ids=["missing file", "empty file", "no file name"],
)
def test_an_unreadable_or_empty_context_file_is_a_usage_error_naming_it(
    cli_env, tmp_path, value, message
):
    names = {"missing": tmp_path / "nope.json", "empty": tmp_path / "empty.json"}
    names["empty"].write_text("\n")
    proc = _cli(["run", "ctx.show", "--context", value.format(**names)], cli_env)
    assert proc.returncode == 2
    assert message.format(**names) in proc.stderr


def test_empty_stdin_is_a_usage_error_naming_stdin(cli_env):
    proc = _cli(["run", "ctx.show", "--context", "-"], cli_env, stdin="")
    assert proc.returncode == 2
    assert "--context -: stdin is empty" in proc.stderr
