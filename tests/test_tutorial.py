"""docs/tutorial.md, followed verbatim: every command and file is taken from the
Markdown (nothing retyped here), run in order from an empty folder with
``XDG_STATE_HOME`` set, and every output line the tutorial shows is checked
(tests/markdown_walk.py says how the blocks read)."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import ROOT, venv_bin
from markdown_walk import FENCE, Command, console_commands, missing_lines

TUTORIAL = ROOT / "docs" / "tutorial.md"
FILE = re.compile(r"^# file: (?P<path>\S+)\n")


@dataclass
class File:
    path: str
    body: str


def steps(markdown: str) -> list[Command | File]:
    """The tutorial's files and console commands, in the order they appear."""
    found: list[Command | File] = []
    for block in FENCE.finditer(markdown):
        body = block["body"]
        header = FILE.match(body)
        if header:
            found.append(File(header["path"], body[header.end() :]))
        elif block["lang"] == "console":
            found.extend(console_commands(body))
    return found


def test_the_tutorial_parses_into_files_and_commands():
    parsed = steps(TUTORIAL.read_text())
    files = [s.path for s in parsed if isinstance(s, File)]
    assert files == [
        "my-actions/pyproject.toml",
        "my-actions/my_actions/greet.py",
        "my-actions/my_actions/__init__.py",
    ]
    commands = [s for s in parsed if isinstance(s, Command)]
    assert commands[0].line == "mkdir -p my-actions/my_actions"
    assert any(c.exit_code == 2 for c in commands)


@pytest.mark.slow
def test_the_tutorial_works_verbatim_from_an_empty_folder(tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    state_home = tmp_path / "xdg-state"
    env = {k: v for k, v in os.environ.items() if k != "ACTION_EXECUTOR_STATE_DIR"}
    env["XDG_STATE_HOME"] = str(state_home)
    env["PATH"] = os.path.dirname(venv_bin("action-executor")) + os.pathsep + env["PATH"]

    for step in steps(TUTORIAL.read_text()):
        if isinstance(step, File):
            target = workdir / step.path
            assert target.parent.is_dir(), f"{step.path}: the tutorial did not make its folder"
            target.write_text(step.body)
            continue
        proc = subprocess.run(
            ["bash", "-c", step.line],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        shown = f"$ {step.line}\n{proc.stdout}{proc.stderr}"
        assert proc.returncode == step.exit_code, shown
        assert not missing_lines(step, proc.stdout + proc.stderr), shown

    assert Path(state_home, "mistral-action-host", "envs").is_dir()  # the state went there
