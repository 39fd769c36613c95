"""The command line's contract (README's exit codes, one meaning per flag):
options after the action name, exit 2 for every request that names what does
not exist, ``-f`` only for ``--format``, ``-c`` in any case, ``action-host
--version``, ``run --config-file``."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from helpers import venv_bin

from executor.cli import UsageError
from executor.cli.common import file_config


def cli(*args: str, state_dir, command: str = "action-executor") -> subprocess.CompletedProcess:
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(state_dir))
    return subprocess.run(
        [venv_bin(command), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_options_may_follow_the_parameters_of_run(state_dir):
    proc = cli("run", "std.echo", "--timeout", "20", "output=1", state_dir=state_dir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == 1


def test_parameters_before_and_after_an_option_are_all_passed(state_dir):
    proc = cli("run", "std.echo", "output=a", "--timeout", "20", "delay=0", state_dir=state_dir)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == "a"


def test_an_unknown_option_after_the_action_is_a_usage_error(state_dir):
    proc = cli("run", "std.echo", "--bogus", "output=1", state_dir=state_dir)
    assert proc.returncode == 2
    assert "unrecognized arguments: --bogus" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("env", "show", "NOSUCH"),
        ("env", "remove", "NOSUCH"),
        ("env", "upgrade", "NOSUCH"),
        ("env", "set", "NOSUCH", "path=/opt"),
    ],
    ids=["show", "remove", "upgrade", "set"],
)
def test_every_command_naming_a_missing_environment_exits_2(state_dir, args):
    proc = cli(*args, state_dir=state_dir)
    assert proc.returncode == 2, proc.stderr
    assert "no environment named 'NOSUCH'" in proc.stderr
    assert "action-executor env create NOSUCH" in proc.stderr


def test_env_set_with_an_unknown_key_exits_2_and_changes_nothing(state_dir):
    assert cli("env", "create", "e1", "--offline", state_dir=state_dir).returncode == 0
    proc = cli("env", "set", "e1", "bogus=1", state_dir=state_dir)
    assert proc.returncode == 2
    assert "unknown setting 'bogus'" in proc.stderr and "nothing was changed" in proc.stderr


def test_env_set_on_the_default_environment_exits_2_naming_run_config_file(state_dir):
    proc = cli("env", "set", "default", "limits.address_space=1G", state_dir=state_dir)
    assert proc.returncode == 2
    assert "[action_executor]" in proc.stderr
    assert "action-executor run --config-file FILE" in proc.stderr


@pytest.mark.parametrize("command", [("install",), ("env", "create"), ("env", "upgrade")])
def test_dash_f_is_format_only_never_find_links(command):
    from executor.cli import build_parser

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args([*command, "NAME", "-f", "/tmp/wheels"])
    args = parser.parse_args([*command, "NAME", "--find-links", "/tmp/wheels"])
    assert args.find_links == ["/tmp/wheels"]


@pytest.mark.parametrize("column", ["name", "NAME", "Name"])
def test_a_column_is_named_in_any_case(state_dir, column):
    proc = cli("actions", "-f", "value", "-c", column, state_dir=state_dir)
    assert proc.returncode == 0, proc.stderr
    assert "std.echo" in proc.stdout.split()


def test_action_host_prints_its_version(state_dir):
    proc = cli("--version", state_dir=state_dir, command="action-host")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("action-host ") and "protocol" in proc.stdout


def test_run_config_file_sets_the_executor_and_the_actions_option_groups(tmp_path):
    conf = tmp_path / "executor.conf"
    conf.write_text(
        "[DEFAULT]\ntransport_url = rabbit://mistral:hunter2-mq@127.0.0.1:5672/\n"
        "[database]\nconnection = postgresql://u:hunter2-db@127.0.0.1/mistral\n"
        "[action_executor]\nmax_concurrency = 3\nhost_environ = GREETING:hello\n"
        "[action_std_http]\ndefault_timeout = 7\n"
    )
    config = file_config([str(conf)])
    assert config.max_concurrency == 3 and config.host_environ == {"GREETING": "hello"}
    assert "[action_std_http]" in config.action_config
    assert "default_timeout = 7" in config.action_config
    assert "hunter2" not in config.action_config  # no service secret reaches a host


def test_run_config_file_limits_reach_the_host(state_dir, tmp_path):
    """std.javascript refuses to start V8 under an address-space limit: the
    file's [action_executor] limits are what the host runs under."""
    conf = tmp_path / "executor.conf"
    conf.write_text("[action_executor]\nlimits = address_space:1073741824\n")
    script = 'script="return 1"'
    plain = cli("run", "std.javascript", script, state_dir=state_dir)
    assert plain.returncode == 0, plain.stderr
    limited = cli("run", "std.javascript", "--config-file", str(conf), script, state_dir=state_dir)
    assert limited.returncode == 1
    assert "RLIMIT_AS 1 GiB" in json.loads(limited.stdout)["error"]


def test_run_config_file_that_is_missing_is_a_usage_error(state_dir, tmp_path):
    proc = cli("run", "std.echo", "--config-file", str(tmp_path / "nope.conf"), state_dir=state_dir)
    assert proc.returncode == 2
    assert "nope.conf: no such file" in proc.stderr


def test_a_config_file_with_a_bad_value_is_a_usage_error_naming_it(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[action_executor]\nmax_concurrency = many\n")
    with pytest.raises(UsageError, match="bad.conf"):
        file_config([str(conf)])


def test_run_config_file_lets_std_http_reach_a_local_test_server(state_dir, tmp_path):
    """The std-actions guide's recipe: the sandbox's network and std.http's
    denied_cidrs both keep loopback out by default; a config file opens both."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"url=http://127.0.0.1:{server.server_address[1]}/"
    conf = tmp_path / "local.conf"
    conf.write_text(
        "[sandbox]\nnetwork = host\n[action_std_http]\ndenied_cidrs = 169.254.0.0/16,fe80::/10\n"
    )
    try:
        refused = cli("run", "std.http", url, state_dir=state_dir)
        reached = cli("run", "std.http", url, "--config-file", str(conf), state_dir=state_dir)
    finally:
        server.shutdown()
        server.server_close()
    assert refused.returncode == 1 and "denied_cidrs" in json.loads(refused.stdout)["error"]
    assert reached.returncode == 0, reached.stdout + reached.stderr
    assert json.loads(reached.stdout)["data"]["status"] == 200
