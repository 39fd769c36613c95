"""``action-host --inspect``: what an interpreter can see, broken plugins included."""

import json
import os
import subprocess
import sys


def _inspect(plugin_site, *args):
    env = dict(os.environ, PYTHONPATH=str(plugin_site))
    return subprocess.run(
        [sys.executable, "-m", "action_host", "--inspect", *args],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout


def test_inspect_lists_working_actions_with_parameters_and_docstrings(plugin_site):
    out = _inspect(plugin_site)
    echo = next(line for line in out.splitlines() if line.startswith("std.echo "))
    assert "std_actions.basic.EchoAction" in echo
    assert "mistral-action-host" in echo
    assert "output, delay=0" in echo
    assert "Return the given output" in echo


def test_inspect_lists_a_broken_plugin_with_its_error_next_to_working_ones(plugin_site):
    out = _inspect(plugin_site)
    assert "entry point(s) failed to load" in out
    broken = next(line for line in out.splitlines() if line.startswith("test.broken "))
    assert "No module named 'this_module_does_not_exist'" in broken
    assert "testplugins_broken.py:3)" in broken  # the line whose import failed
    assert "testplugins 1.0" in broken
    assert any(line.startswith("test.print ") for line in out.splitlines())


def test_inspect_json_has_the_host_and_every_action(plugin_site):
    data = json.loads(_inspect(plugin_site, "--json"))
    assert data["host"]["interpreter"] == sys.executable
    by_name = {a["name"]: a for a in data["actions"]}
    assert by_name["std.echo"]["params"][0] == {
        "name": "output",
        "required": True,
        "default": None,
        "kind": "keyword",
    }
    assert by_name["test.broken"]["error"].startswith("ModuleNotFoundError")
    assert by_name["std.async_noop"]["is_sync"] is False
    assert by_name["test.kwargs"]["accepts_any_params"] is True


def test_action_host_without_a_mode_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "action_host"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "--inspect" in proc.stderr
