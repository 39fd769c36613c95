"""Our systemd unit works as shipped: its user, its capabilities, its delegated cgroup.

systemd does not run here, so the test starts ``serve`` the way the unit
does: the ``ExecStart`` line of ``etc/systemd/action-executor.service`` (the
install prefix, the configuration paths and the state directory pointed at
the test's own), as the unit's ``User=``, with exactly its
``AmbientCapabilities=`` and ``CapabilityBoundingSet=``, in a cgroup
delegated to that user (``Delegate=yes``), from a world-readable install of
this checkout. The operator's path comes first: the tutorial plugin is
installed as that user. Then Mistral's engine (a double, over RabbitMQ)
runs the plugin's action and std.http, which reaches a machine outside this
one (a network namespace of the test's own) through the default sandbox.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from deployments import as_user, ensure_user, session_dir, world_readable_install
from harness import Broker, EngineDouble
from helpers import ROOT, tutorial_plugin
from netns import OutsideHost
from sandbox_support import REGISTRY_SETTINGS
from systemd_double import RunningUnit, UnitFile, cap_mask, caps_of, status_of, uid_of

from executor.service import wire

UNIT = ROOT / "etc" / "systemd" / "action-executor.service"


def unit_service() -> dict[str, str]:
    return UnitFile.parse(UNIT.read_text()).service


def test_the_unit_names_its_user_capabilities_and_delegation():
    service = unit_service()
    assert service["User"] == "mistral" and service["Group"] == "mistral"
    assert caps_of(service["AmbientCapabilities"]) == ["setuid", "setgid", "bpf", "net_admin"]
    assert service["CapabilityBoundingSet"] == service["AmbientCapabilities"]
    assert service["Delegate"] == "yes"
    assert service["ExecStart"].split()[:2] == [
        "/opt/mistral-action-host/bin/action-executor",
        "serve",
    ]


@pytest.fixture(scope="module")
def outside(tmp_path_factory):
    host = OutsideHost.create(tmp_path_factory.mktemp("outside"))
    yield host
    host.close()


def _operator_files(user: str, broker: Broker, host: str) -> tuple[Path, Path, Path]:
    """/etc/mistral/mistral.conf, /etc/mistral-action-host/conf.d and
    /var/lib/mistral-action-host, as an operator writes them (the state
    directory is the user's: systemd's StateDirectory=)."""
    root = session_dir() / f"unit-{host}"
    conf_d = root / "etc" / "mistral-action-host" / "conf.d"
    conf_d.mkdir(parents=True)
    mistral_conf = root / "etc" / "mistral" / "mistral.conf"
    mistral_conf.parent.mkdir(parents=True)
    mistral_conf.write_text(
        f"[DEFAULT]\ntransport_url = {broker.url}\n"
        "[database]\nconnection = postgresql://mistral:DBSECRET@127.0.0.1/mistral\n"
    )
    (conf_d / "executor.conf").write_text(
        f"[executor]\nhost = {host}\n[action_executor_service]\ndelivery_retry_interval = 0.5\n"
    )
    entry = pwd.getpwnam(user)
    for path in (mistral_conf, conf_d / "executor.conf"):
        os.chown(path, 0, entry.pw_gid)  # root:mistral 0640, as Debian ships mistral.conf
        path.chmod(0o640)
    for directory in (root, root / "etc", mistral_conf.parent, conf_d.parent, conf_d):
        directory.chmod(0o755)
    state = root / "var" / "lib" / "mistral-action-host"
    state.mkdir(parents=True)
    os.chown(state, entry.pw_uid, entry.pw_gid)
    state.chmod(0o700)
    (root / "var").chmod(0o755)
    (root / "var" / "lib").chmod(0o755)
    return mistral_conf, conf_d, state


def _exec_start(service: dict[str, str], venv: Path, mistral_conf: Path, conf_d: Path) -> list[str]:
    argv = UnitFile(service).exec_start
    swap = {
        "/etc/mistral/mistral.conf": str(mistral_conf),
        "/etc/mistral-action-host/conf.d": str(conf_d),
    }
    argv = [swap.get(a, a) for a in argv]
    argv[0] = argv[0].replace("/opt/mistral-action-host", str(venv))
    return argv


def _uv_cache(user: str) -> str:
    cache = session_dir() / f"uv-cache-{user}"
    cache.mkdir(exist_ok=True)
    entry = pwd.getpwnam(user)
    os.chown(cache, entry.pw_uid, entry.pw_gid)
    return str(cache)


def test_serve_runs_the_tutorial_plugin_and_std_http_as_the_unit_runs_it(
    broker: Broker, engine: EngineDouble, outside: OutsideHost, tmp_path
):
    unit = UnitFile.parse(UNIT.read_text())
    user = unit.user
    ensure_user(user)
    venv = world_readable_install()
    host = f"unit-{os.getpid()}"
    mistral_conf, conf_d, state = _operator_files(user, broker, host)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": "/nonexistent",
        "UV_CACHE_DIR": _uv_cache(user),
        # how this machine reaches the package registry (its CA, a proxy)
        **{k: v for k, v in os.environ.items() if k.startswith(REGISTRY_SETTINGS)},
    }
    unit.service["Environment"] = " ".join(
        f"{k}={state if v == '/var/lib/mistral-action-host' else v}"
        for k, v in unit.environment.items()
    )
    env.update(unit.environment)
    # The operator installs the plugin as the service's user, into its state.
    plugin = session_dir() / f"tutorial-{host}"  # the operator's checkout of it
    shutil.copytree(tutorial_plugin(tmp_path), plugin)
    owner = pwd.getpwnam(user)
    for path in [plugin, *plugin.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    install = subprocess.run(
        as_user(
            user,
            [str(venv / "bin" / "action-executor"), "install", "--env", "greetings", str(plugin)],
            unit.caps,
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd="/",
    )
    assert install.returncode == 0, install.stdout + install.stderr
    running = RunningUnit(
        unit,
        _exec_start(unit.service, venv, mistral_conf, conf_d),
        env=env,
        log=tmp_path / "serve.log",
    )
    try:
        running.start()
        assert running.proc is not None
        status = status_of(running.proc.pid)
        assert status["Uid"].split()[0] == str(uid_of(user))
        assert int(status["CapEff"], 16) == cap_mask(unit.caps)
        greet = wire.DecodedAction("my_actions.greet.Greet", {}, {"name": "Ann", "greeting": "Hi"})
        url = f"http://{outside.address}:8080/"
        # as Mistral's engine sends it: every attribute HTTPAction.__init__ sets
        attrs = dict.fromkeys(("params", "body", "json", "headers", "cookies", "auth"))
        attrs.update(url=url, method="GET", timeout=None, allow_redirects=None)
        attrs.update(proxies=None, verify=None)
        http = wire.DecodedAction("mistral.actions.std_actions.HTTPAction", {}, attrs)
        greeted = engine.completion(engine.run_action("01", host=host, action=greet), 120)
        fetched = engine.completion(engine.run_action("01", host=host, action=http), 120)
    finally:
        try:
            if running.proc is not None and running.proc.poll() is None:
                running.stop()
        finally:
            running.close()
    served = running.output()
    assert greeted.result is not None and greeted.result.error is None, served[-3000:]
    assert greeted.result.data == "Hi Ann, from anonymous"
    assert fetched.result is not None and fetched.result.error is None, served[-3000:]
    assert fetched.result.data["status"] == 200
    assert outside.reached() >= 1
