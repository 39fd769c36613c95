"""docs/tutorial.md, followed step by step with the real CLI."""

import json
import os
import re
import subprocess

import pytest
from helpers import ROOT, venv_bin

TUTORIAL = ROOT / "docs" / "tutorial.md"
BLOCK = re.compile(r"```\w*\n# file: (?P<path>[^\n]+)\n(?P<body>.*?)```", re.S)


@pytest.mark.slow
def test_the_tutorial_works_as_written(tmp_path):
    for block in BLOCK.finditer(TUTORIAL.read_text()):
        target = tmp_path / block["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block["body"])
    assert (tmp_path / "my-actions" / "my_actions" / "greet.py").exists()
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(tmp_path / "state"))

    def cli(*args):
        proc = subprocess.run(
            [venv_bin("action-executor"), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        return proc

    installed = cli("install", "--env", "greetings", "./my-actions")
    assert installed.returncode == 0, installed.stderr
    assert 'my.greet  (name, greeting="Hello")' in installed.stdout
    assert "==> environment 'greetings' ready: 1 action(s)" in installed.stderr

    listed = cli("actions").stdout
    assert any(line.split()[:2] == ["my.greet", "greetings"] for line in listed.splitlines())

    ran = cli("run", "my.greet", "name=Ann", "--context", '{"security": {"user_name": "bob"}}')
    assert json.loads(ran.stdout)["data"] == "Hello Ann, from bob"
    refused = cli("run", "my.greet")
    assert refused.returncode == 1
    assert "missing required parameter(s): name" in json.loads(refused.stdout)["error"]

    inspect = subprocess.run(
        [str(tmp_path / "state" / "envs" / "greetings" / "bin" / "action-host"), "--inspect"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    ).stdout
    assert "my.greet" in inspect and "interpreter:" in inspect

    greet = tmp_path / "my-actions" / "my_actions" / "greet.py"
    greet.write_text(greet.read_text().replace('greeting="Hello"', 'greeting="Hi"'))
    assert cli("env", "upgrade", "greetings").returncode == 0
    ran = cli("run", "greetings:my.greet", "name=Ann")
    assert json.loads(ran.stdout)["data"] == "Hi Ann, from anonymous"

    assert cli("env", "remove", "greetings").returncode == 0
    assert "my.greet" not in cli("actions").stdout
