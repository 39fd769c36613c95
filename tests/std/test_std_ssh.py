"""std.ssh and std.ssh_proxied against real asyncssh servers on 127.0.0.1.

The servers run real shell commands. Two gateways front the target: one
allows direct-tcpip channels, the other refuses them and serves ``nc HOST
PORT`` instead (as Mistral's gateways do).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import threading
import time

import pytest
from std_support import (
    BackgroundLoop,
    make_keys,
    start_ssh_server,
    stop_ssh_server,
    write_proxy_script,
)

from actions_api import ActionContext, ActionException
from std_actions import ssh
from std_actions.ssh import SSHAction, SSHProxiedAction

CTX = ActionContext()
USER = "tester"
PASSWORD = "ssh-pa55-word"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return make_keys(tmp_path_factory.mktemp("ssh-keys"))


@pytest.fixture(scope="module")
def loop():
    background = BackgroundLoop()
    yield background
    background.close()


@pytest.fixture(scope="module")
def servers(loop, keys):
    users = {USER: PASSWORD}
    made = {
        "target": start_ssh_server(loop, users=users, authorized_keys=keys["authorized_keys"]),
        "gateway": start_ssh_server(loop, users=users, authorized_keys=keys["authorized_keys"]),
        "nc_gateway": start_ssh_server(
            loop, users=users, authorized_keys=keys["authorized_keys"], allow_forwarding=False
        ),
    }
    yield made
    for server in made.values():
        stop_ssh_server(loop, server)


@pytest.fixture
def target(servers):
    servers["target"].log.clear()
    return servers["target"]


def run_ssh(host, cmd="echo hello", **params):
    params.setdefault("username", USER)
    return SSHAction(cmd=cmd, host=host, **params).run(CTX)


# ------------------------------------------------------------ std.ssh


def test_a_command_runs_with_password_login_and_returns_stdout(target):
    assert run_ssh(target.address, "echo hello; echo to-stderr >&2", password=PASSWORD) == (
        "hello\n"
    )
    assert f"password-auth {USER} ok" in target.log


@pytest.mark.parametrize("kind", ["rsa", "ecdsa", "ed25519"])
def test_a_private_key_given_as_text_logs_in(target, keys, kind):
    assert run_ssh(target.address, "echo keyed", private_key=keys[kind]) == "keyed\n"
    assert f"key-auth {USER} ok" in target.log


def test_a_private_key_file_is_read_from_the_key_folder(target, keys, tmp_path, monkeypatch):
    monkeypatch.setattr(ssh, "KEY_DIR", str(tmp_path))
    (tmp_path / "id_test").write_text(keys["ed25519"])
    assert run_ssh(target.address, "echo file", private_key_filename="id_test") == "file\n"
    absolute = str(tmp_path / "id_test")
    assert run_ssh(target.address, "echo abs", private_key_filename=absolute) == "abs\n"


@pytest.mark.parametrize("name", ["../id_rsa", "keys/../../etc/shadow", "/etc/ssh/ssh_host_key"])
def test_a_key_file_outside_the_key_folder_is_refused(target, tmp_path, monkeypatch, name):
    monkeypatch.setattr(ssh, "KEY_DIR", str(tmp_path))
    with pytest.raises(ActionException, match="private_key_filename"):
        run_ssh(target.address, private_key_filename=name)
    assert not any(line.startswith("exec") for line in target.log)


def test_the_key_folder_defaults_to_the_accounts_home_not_home_variable(monkeypatch, tmp_path):
    import pwd

    monkeypatch.setenv("HOME", str(tmp_path))
    assert ssh.key_dir() == f"{pwd.getpwuid(__import__('os').getuid()).pw_dir}/.ssh"


def test_a_list_of_hosts_gives_a_list_of_results_in_order(servers):
    hosts = [servers["target"].address, servers["gateway"].address]
    assert run_ssh(hosts, "echo many", password=PASSWORD) == ["many\n", "many\n"]


def test_a_list_of_one_host_gives_a_single_result_as_in_mistral(target):
    assert run_ssh([target.address], "echo one", password=PASSWORD) == "one\n"


def test_a_non_zero_exit_fails_the_action_with_its_code(target):
    with pytest.raises(
        ActionException, match=r"Failed to execute ssh cmd 'exit 3' on .*exit code 3"
    ):
        run_ssh(target.address, "exit 3", password=PASSWORD)


def test_return_result_on_error_returns_stdout_stderr_and_exit_code(target):
    result = run_ssh(
        target.address,
        "echo out; echo err >&2; exit 4",
        password=PASSWORD,
        return_result_on_error=True,
    )
    assert result == {"stdout": "out\n", "stderr": "err\n", "exit_code": 4}


def test_return_result_on_error_gives_the_same_shape_on_success(target):
    result = run_ssh(target.address, "echo fine", password=PASSWORD, return_result_on_error=True)
    assert result == {"stdout": "fine\n", "stderr": "", "exit_code": 0}


def test_a_command_filling_stderr_does_not_hang(target):
    # More than paramiko's 2 MiB channel window: reading stdout first would deadlock.
    cmd = "head -c 5000000 /dev/zero | tr '\\0' e >&2; echo done"
    started = time.monotonic()
    result = run_ssh(target.address, cmd, password=PASSWORD, return_result_on_error=True)
    assert result["stdout"] == "done\n"
    assert len(result["stderr"]) == 5_000_000
    assert time.monotonic() - started < 30


def test_a_command_running_past_the_command_timeout_fails(target):
    class QuickSSH(SSHAction):
        COMMAND_TIMEOUT = 1.0

    started = time.monotonic()
    with pytest.raises(ActionException, match="did not finish within 1 s"):
        QuickSSH(cmd="sleep 20", host=target.address, username=USER, password=PASSWORD).run(CTX)
    assert time.monotonic() - started < 10


def test_a_server_that_never_answers_fails_after_the_connect_timeout():
    class QuickSSH(SSHAction):
        CONNECT_TIMEOUT = 1.0

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(ActionException, match="Failed to execute ssh cmd"):
            QuickSSH(cmd="true", host=f"127.0.0.1:{silent.getsockname()[1]}", username=USER).run(
                CTX
            )
        assert time.monotonic() - started < 10
    finally:
        for conn, _ in accepted:
            conn.close()
        silent.close()


def test_a_wrong_password_fails_without_showing_it(target, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ActionException, match="Authentication") as info:
        run_ssh(target.address, password="wrong-ssh-secret")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "wrong-ssh-secret" not in str(info.value) + logged


def test_keys_and_passwords_are_never_logged(target, keys, caplog):
    caplog.set_level(logging.DEBUG)
    run_ssh(target.address, private_key=keys["rsa"], password="")
    run_ssh(target.address, password=PASSWORD)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in logged
    assert "PRIVATE KEY" not in logged


def test_the_dry_run_describes_the_call_with_secrets_masked(keys):
    action = SSHAction(
        cmd="ls", host="h", username=USER, password=PASSWORD, private_key=keys["rsa"]
    )
    described = json.loads(action.test(CTX))
    assert described["cmd"] == "ls"
    assert described["password"] == "***"
    assert described["private_key"] == "***"


def test_an_ssh_action_rebuilt_from_mistrals_attributes_runs(target):
    state = {  # vars() of Mistral's SSHAction after __init__
        "cmd": "echo rebuilt",
        "host": target.address,
        "username": USER,
        "password": PASSWORD,
        "private_key_filename": None,
        "private_key": None,
        "return_result_on_error": False,
        "params": {
            "cmd": "echo rebuilt",
            "host": target.address,
            "username": USER,
            "password": PASSWORD,
            "private_key_filename": None,
            "private_key": None,
        },
    }
    action = SSHAction.__new__(SSHAction)
    for name, value in state.items():
        setattr(action, name, value)
    assert action.run(CTX) == "rebuilt\n"
    assert set(vars(SSHAction(cmd="x", host="h", username="u"))) == set(state)


# ------------------------------------------------------------ std.ssh_proxied


def proxied(servers, keys, gateway="gateway", **params):
    params.setdefault("private_key", keys["ed25519"])
    return SSHProxiedAction(
        cmd=params.pop("cmd", "echo via gateway"),
        host=servers["target"].address,
        username=USER,
        private_key_filename=None,
        gateway_host=servers[gateway].address,
        **params,
    ).run(CTX)


def test_proxied_ssh_tunnels_through_the_gateway_with_direct_tcpip(servers, keys):
    servers["gateway"].log.clear()
    assert proxied(servers, keys) == "via gateway\n"
    target_port = servers["target"].port
    assert f"direct-tcpip 127.0.0.1:{target_port} True" in servers["gateway"].log
    assert not any(line.startswith("exec") for line in servers["gateway"].log)


def test_proxied_ssh_falls_back_to_nc_when_the_gateway_refuses_tunnels(servers, keys):
    servers["nc_gateway"].log.clear()
    assert proxied(servers, keys, gateway="nc_gateway") == "via gateway\n"
    target_port = servers["target"].port
    assert f"exec nc 127.0.0.1 {target_port}" in servers["nc_gateway"].log


def test_proxied_ssh_reaches_the_gateway_through_a_proxy_command(servers, keys, tmp_path):
    script = write_proxy_script(tmp_path)
    marker = tmp_path / "proxy-used"
    command = f"{sys.executable} {script} 127.0.0.1 {servers['gateway'].port} {marker}"
    assert proxied(servers, keys, proxy_command=command) == "via gateway\n"
    assert marker.read_text() == "used"


def test_proxied_ssh_uses_its_own_gateway_username(servers, keys):
    servers["gateway"].log.clear()
    with pytest.raises(ActionException, match="Authentication"):
        proxied(servers, keys, gateway_username="nobody")
    assert "key-auth nobody refused" in servers["gateway"].log


def test_proxied_ssh_fails_on_a_non_zero_exit(servers, keys):
    with pytest.raises(ActionException, match="exit code 2"):
        proxied(servers, keys, cmd="exit 2")


def test_a_proxied_action_rebuilt_from_mistrals_attributes_runs(servers, keys, tmp_path):
    script = write_proxy_script(tmp_path)
    marker = tmp_path / "proxy-used"
    command = f"{sys.executable} {script} 127.0.0.1 {servers['gateway'].port} {marker}"
    common = {
        "cmd": "echo rebuilt-proxied",
        "host": servers["target"].address,
        "username": USER,
        "password": None,
        "private_key_filename": None,
        "private_key": keys["rsa"],
    }
    state = {  # vars() of Mistral's SSHProxiedAction: proxy_command lives only in params
        **common,
        "return_result_on_error": False,
        "gateway_host": servers["gateway"].address,
        "gateway_username": None,
        "params": {
            **common,
            "gateway_host": servers["gateway"].address,
            "gateway_username": None,
            "proxy_command": command,
        },
    }
    action = SSHProxiedAction.__new__(SSHProxiedAction)
    for name, value in state.items():
        setattr(action, name, value)
    assert action.run(CTX) == "rebuilt-proxied\n"
    assert marker.exists()
    fresh = SSHProxiedAction("x", "h", "u", None, "g", proxy_command="p")
    assert set(vars(fresh)) == set(state)
    assert fresh.params["proxy_command"] == "p"


# ------------------------------------------------------------ through the executor


def test_std_ssh_through_the_executor_runs_the_command(target, executor):
    result = executor.run(
        "std.ssh",
        {"cmd": "echo e2e", "host": target.address, "username": USER, "password": PASSWORD},
    )
    assert result.is_success(), result.error
    assert result.data == "e2e\n"


def test_std_ssh_proxied_through_the_executor_runs_the_command(servers, keys, fork_executor):
    result = fork_executor.run(
        "std.ssh_proxied",
        {
            "cmd": "echo e2e-proxied",
            "host": servers["target"].address,
            "username": USER,
            "private_key_filename": None,
            "private_key": keys["ecdsa"],
            "gateway_host": servers["gateway"].address,
        },
    )
    assert result.is_success(), result.error
    assert result.data == "e2e-proxied\n"
