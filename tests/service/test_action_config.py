"""What hosts get of the service's configuration: the groups meant for actions, no secret.

``serve`` reads a configuration that holds the broker's password (in
``transport_url``), the database's and Keystone's. Its hosts get only the
groups of ``[action_executor] action_config_groups`` (``action_std_http``),
as one file the service writes in its state directory and the executor hands
each host as a sealed in-memory copy; the service's configuration is listed
in ``hidden_paths``, so its files and directories are hidden from them. An action
searching everywhere it can finds none of the passwords, and still reads its
own options. A configuration *file* of the service shows empty to actions,
even where their uid could read it.
"""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from deployments import session_dir
from harness import Broker, EngineDouble, ServiceProcess, rabbitmqctl
from helpers import tutorial_plugin, venv_bin

from executor.config import ExecutorConfig
from executor.service import wire
from executor.service.server import action_config_file

SECRET = uuid.uuid4().hex[:12]
#: The broker user of the service under test, and the three passwords.
MQ_USER = f"mah-secrets-{SECRET}"
MQ_PASSWORD = f"SECRETMQPASS{SECRET}"
DB_PASSWORD = f"SECRETDBPASS{SECRET}"
KS_PASSWORD = f"SECRETKSPASS{SECRET}"
#: A value of [action_std_http]: what the action must see.
CANARY = f"canary-{SECRET}.example"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def broker_user(broker: Broker) -> Iterator[str]:
    """A broker user of its own, so its password is a needle no file holds by chance."""
    rabbitmqctl("add_user", MQ_USER, MQ_PASSWORD)
    try:
        rabbitmqctl("set_permissions", "-p", broker.vhost, MQ_USER, ".*", ".*", ".*")
        yield f"rabbit://{MQ_USER}:{MQ_PASSWORD}@127.0.0.1:5672/{broker.vhost}"
    finally:
        rabbitmqctl("delete_user", MQ_USER, check=False)


@pytest.fixture(scope="module", params=["fork", "spawn"])
def secretive(request, broker, broker_user, services_dir, plugin_site) -> Iterator[ServiceProcess]:
    """``serve`` with the passwords in its configuration: a file and a conf.d
    directory any user of the machine could read, were they not hidden."""
    launcher = request.param
    host = f"secretive-{launcher}"
    etc = session_dir() / f"etc-{host}"
    confd = etc / "conf.d"
    confd.mkdir(parents=True)
    etc.chmod(0o755)
    confd.chmod(0o755)
    keystone = confd / "keystone.conf"
    keystone.write_text(f"[keystone_authtoken]\npassword = {KS_PASSWORD}\n")
    keystone.chmod(0o644)
    service = ServiceProcess(
        broker,
        services_dir / host,
        host,
        plugin_site=plugin_site,
        sections={
            "DEFAULT": {"transport_url": broker_user},
            "database": {"connection": f"postgresql://u:{DB_PASSWORD}@127.0.0.1/mistral"},
            "action_std_http": {"default_timeout": 7, "allowed_hosts": CANARY},
            "action_executor": {"launcher": launcher},
        },
        config_file=etc / "service.conf",
        config_dirs=(confd,),
    )
    service.config_file.chmod(0o644)
    service.start()
    yield service
    service.stop()


def find_secrets(engine: EngineDouble, service: ServiceProcess, paths: list[str]) -> dict:
    """Run ``FindSecretsAction`` through ``service``: where it found a password."""
    data = {
        "needles": [b64(MQ_PASSWORD), b64(DB_PASSWORD), b64(KS_PASSWORD)],
        "paths": paths,
        "canary": b64(CANARY),
    }
    action = wire.DecodedAction("testplugins_secrets.FindSecretsAction", {}, data)
    ex_id = engine.run_action("01", host=service.host, action=action)
    done = engine.completion(ex_id, timeout=90)
    assert done.result is not None and done.result.error is None, (
        f"{done.result}\n{service.diagnostics()}"
    )
    result: dict = done.result.data
    return result


def action_config_file_of(service: ServiceProcess) -> str:
    return action_config_file(
        ExecutorConfig(state_dir=str(service.workdir / "state")), service.host
    )


def test_an_action_finds_none_of_the_services_passwords_anywhere(secretive, engine):
    confd, state = str(secretive.config_dirs[0]), str(secretive.workdir / "state")
    paths = ["/etc", "/", confd, state, action_config_file_of(secretive)]
    found = find_secrets(engine, secretive, paths)
    assert found["found"] == []
    assert "/etc" in found["opened_under"]  # the search read real files
    assert confd not in found["opened_under"]  # hidden: the service's --config-dir
    assert state not in found["opened_under"]


def test_the_services_config_file_is_hidden_from_actions(secretive, engine):
    found = find_secrets(engine, secretive, [str(secretive.config_file)])
    assert found["found"] == []


def test_an_action_reads_the_options_of_its_groups(secretive, engine):
    found = find_secrets(engine, secretive, [])
    assert found["default_timeout"] == 7
    assert found["canary_in_cfg_conf"] is True


def test_the_hosts_config_file_holds_only_their_groups_readable_by_the_service_alone(secretive):
    path = Path(action_config_file_of(secretive))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert re.findall(r"^\[(\w+)\]$", text, re.M) == ["action_std_http"]
    assert "default_timeout = 7" in text and CANARY in text
    for secret in (MQ_PASSWORD, DB_PASSWORD, KS_PASSWORD):
        assert secret not in text


# -- an environment without oslo.config ---------------------------------------------


@pytest.mark.slow
def test_the_tutorial_plugin_runs_under_serve_in_an_environment_without_oslo_config(
    broker, engine, services_dir, tmp_path
):
    host = "tutorial"
    state = services_dir / host / "state"
    install = subprocess.run(
        [
            venv_bin("action-executor"),
            "install",
            "--env",
            "greetings",
            str(tutorial_plugin(tmp_path)),
        ],
        env={**os.environ, "ACTION_EXECUTOR_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    python = state / "envs" / "greetings" / "bin" / "python"
    assert subprocess.run([python, "-c", "import oslo_config"], capture_output=True).returncode
    service = ServiceProcess(
        broker,
        services_dir / host,
        host,
        sections={"action_std_http": {"default_timeout": 7}},
    )
    service.start()
    try:
        # as Mistral's engine sends it: the instance attributes __init__ set
        attrs = {"name": "Ann", "greeting": "Hello"}
        action = wire.DecodedAction("my_actions.greet.Greet", {}, attrs)
        ex_id = engine.run_action("01", host=host, action=action)
        done = engine.completion(ex_id, timeout=90)
    finally:
        service.stop()
    assert done.result is not None and done.result.error is None, (
        f"{done.result}\n{service.diagnostics()}"
    )
    assert done.result.data == "Hello Ann, from anonymous"
    template_log = (state / "logs" / "template-greetings.log").read_text()
    assert "oslo.config is not installed in this environment" in template_log
