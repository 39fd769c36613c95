"""``action-executor serve`` on the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXE = str(Path(sys.executable).parent / "action-executor")


def test_serve_is_a_command_of_action_executor():
    out = subprocess.run([EXE, "serve", "--help"], capture_output=True, text=True, check=True)
    assert "--config-file" in out.stdout and "--config-dir" in out.stdout


def test_a_missing_config_file_is_a_usage_error_that_names_it(tmp_path):
    missing = tmp_path / "nope.conf"
    out = subprocess.run(
        [EXE, "serve", "--config-file", str(missing)], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert f"bad configuration: Failed to find some config files: {missing}" in out.stderr


def test_a_bad_option_value_is_a_usage_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[action_executor]\nlimits = open_fils:10\n")
    out = subprocess.run([EXE, "serve", "--config-file", str(conf)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown limit 'open_fils'" in out.stderr


def test_a_group_of_the_services_credentials_for_actions_is_a_usage_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[action_executor]\naction_config_groups = action_std_http,database\n")
    out = subprocess.run([EXE, "serve", "--config-file", str(conf)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "action_config_groups: 'database' holds the service's own settings" in out.stderr
