"""The session check of ``leftovers``: a process a test leaves running fails the run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from helpers import HERE
from proc_watch import running

LEAKY = """
    import subprocess

    def test_leaves_a_process():
        subprocess.Popen(["sleep", "600"])

    def test_leaves_a_process_with_a_clean_environment(tmp_path):
        subprocess.Popen(["sleep", "601"], env={}, cwd=tmp_path)

    def test_leaves_a_process_that_ends_at_once():
        subprocess.Popen(["sleep", "1"])
"""


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """pytest with the plugin alone, on a test file of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(HERE)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "leftovers", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_processes_left_running_fail_each_xdist_session_and_are_killed(tmp_path):
    (tmp_path / "test_leaky.py").write_text(textwrap.dedent(LEAKY))
    done = _pytest(tmp_path, "-n", "2", f"--basetemp={tmp_path / 'inner'}", "test_leaky.py")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    left = dict(re.findall(r"pid (\d+) \(root, in [^)]*\): (sleep \d+)", output))
    assert sorted(left.values()) == ["sleep 600", "sleep 601"], output
    assert [pid for pid in left if running(int(pid))] == []
    assert "3 passed" in output


def test_a_clean_session_passes(tmp_path):
    (tmp_path / "test_clean.py").write_text("def test_nothing():\n    pass\n")
    done = _pytest(tmp_path, f"--basetemp={tmp_path / 'inner'}", "test_clean.py")
    assert done.returncode == 0, done.stdout + done.stderr
