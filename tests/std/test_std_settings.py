"""``action-host --config-file``: operator settings loaded into ``cfg.CONF`` before actions.

Each case runs in a fresh interpreter, so the global ``cfg.CONF`` of the
test process (which other std tests override) stays untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from protocol.exit_codes import ExitCode

ACTION_HOST = os.path.join(os.path.dirname(sys.executable), "action-host")


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_loading_no_files_does_nothing_not_even_import_oslo_config():
    done = python(
        """
        import sys
        from action_host import settings
        settings.load([])
        print("oslo_config" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_loaded_file_sets_the_std_http_policy_even_for_options_registered_later(tmp_path):
    conf = tmp_path / "executor.conf"
    conf.write_text(
        "[action_std_http]\nallowed_hosts = api.example.com\ndenied_cidrs = 10.0.0.0/8\n"
        "default_timeout = 7\nmax_response_size_bytes = 1234\n"
    )
    done = python(
        f"""
        from action_host import settings
        settings.load([{str(conf)!r}])
        from std_actions import http_policy
        p = http_policy.current_policy()
        print(p.allowed_hosts, p.denied_cidrs, p.default_timeout, p.max_response_size_bytes)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "('api.example.com',) ('10.0.0.0/8',) 7 1234"


def test_without_a_file_the_policy_has_mistrals_defaults_plus_this_host_addresses():
    done = python(
        """
        from std_actions import http_policy
        p = http_policy.current_policy()
        print(p.allowed_hosts, p.denied_cidrs, p.default_timeout, p.max_response_size_bytes)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "() ('127.0.0.0/8', '::1/128', '169.254.0.0/16', 'fe80::/10', '0.0.0.0/8', '::/128') "
        "60 5242880"
    )


def test_without_oslo_config_the_policy_falls_back_to_the_same_defaults():
    done = python(
        """
        import sys
        sys.modules["oslo_config"] = None  # as if not installed
        from std_actions import http_policy
        print(http_policy.register_options(), http_policy.current_policy().max_response_size_bytes)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False 5242880"


def test_files_given_without_oslo_config_installed_are_skipped_with_a_notice(tmp_path):
    """An environment without oslo.config has no action that reads it: its
    hosts start (a plugin's environment under ``serve``) and say why nothing
    was loaded."""
    done = python(
        f"""
        import sys
        sys.modules["oslo_config"] = None
        from action_host import settings
        settings.load([{str(tmp_path / "x.conf")!r}])
        print("started")
        """
    )
    assert done.stdout.strip() == "started"
    assert "oslo.config is not installed in this environment" in done.stderr


def test_action_host_refuses_a_config_file_it_cannot_parse_and_names_it(tmp_path):
    conf = tmp_path / "broken.conf"
    conf.write_text("[action_std_http\nallowed_hosts = x\n")
    done = subprocess.run(
        [ACTION_HOST, "--config-file", str(conf), "--inspect"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.SETTINGS_FAILED
    assert str(conf) in done.stderr
    assert "cannot be parsed" in done.stderr


def test_action_host_refuses_a_missing_config_file_and_names_it(tmp_path):
    missing = tmp_path / "missing.conf"
    done = subprocess.run(
        [ACTION_HOST, "--config-file", str(missing), "--inspect"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == ExitCode.SETTINGS_FAILED
    assert str(missing) in done.stderr


def test_action_host_loads_every_config_file_given_and_later_ones_win(tmp_path):
    first, second = tmp_path / "a.conf", tmp_path / "b.conf"
    first.write_text("[action_std_http]\ndefault_timeout = 5\nmax_response_size_bytes = 9\n")
    second.write_text("[action_std_http]\ndefault_timeout = 6\n")
    done = python(
        f"""
        from action_host import cli, settings
        args = cli.build_parser().parse_args(
            ["--config-file", {str(first)!r}, "--config-file", {str(second)!r}, "--inspect"]
        )
        settings.load(args.config_files)
        from std_actions import http_policy
        p = http_policy.current_policy()
        print(p.default_timeout, p.max_response_size_bytes)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6 9"
