"""Every run ends, and nothing outlives the executor: channels cut, deadlines,
shutdown, executor death, slow templates (issue 11, items 2, 7, 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from helpers import HERE, install_plugin, process_exists
from proc_watch import asleep_in_nanosleep, cmdline, live_pids, names_any, wait_until

from executor import Executor, ExecutorConfig
from executor.sandbox.model import SandboxPolicy

ACTIONS = {
    "life.close_channel": "testplugins_lifecycle:CloseChannelAction",
    "life.half_frame": "testplugins_lifecycle:HalfFrameAction",
    "life.sleep_with_child": "testplugins_lifecycle:SleepWithChildAction",
    "life.spin": "testplugins_lifecycle:SpinAction",
}
#: These tests watch host pids and files from outside: the host's own pid
#: namespace and private /tmp (tests/test_sandbox.py covers those) stay off.
NO_SANDBOX = SandboxPolicy(enabled=False)
#: What life.sleep_with_child's child runs.
DETACHED_CHILD = "import time; time.sleep(600)"


@pytest.fixture(scope="module")
def life_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("life-site")
    source = (HERE / "plugins" / "testplugins_lifecycle.py").read_text()
    return install_plugin(site, "lifeplugins", "1.0", {"testplugins_lifecycle": source}, ACTIONS)


@pytest.fixture
def detached_children(tmp_path: Path):
    """life.sleep_with_child's child starts a session of its own and, with the
    sandbox off (no pid namespace), outlives its action as the executor warns
    it may (``tests/test_sandbox.py`` shows the sandbox ending such daemons):
    the test ends it, once everything else it started has ended."""
    yield
    ours = (f"{tmp_path}/".encode(),)
    for pid in live_pids():
        if DETACHED_CHILD in cmdline(pid) and names_any(pid, ours):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def life(detached_children, life_site: Path, tmp_path: Path):
    made = []

    def make(**overrides) -> Executor:
        overrides.setdefault("sandbox", NO_SANDBOX)
        config = ExecutorConfig(
            state_dir=str(tmp_path / "state"), extra_paths=(str(life_site),), **overrides
        )
        ex = Executor(config).start()
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.close()


def _wait_gone(pids, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(process_exists(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if process_exists(p)]


def _read_pids(path: Path, seconds=30.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return [int(p) for p in path.read_text().split()]
        time.sleep(0.05)
    raise AssertionError(f"no pids in {path} after {seconds} s")


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_an_action_that_closes_its_channel_ends_its_run_at_once(life, launcher):
    ex = life(launcher=launcher, default_timeout=600)
    started = time.monotonic()
    result = ex.run("life.close_channel")
    assert time.monotonic() - started < 30  # not the 600 s default timeout
    assert result.error_type in ("HostCrashed", "ProtocolError"), result
    assert "70" in result.error or "channel" in result.error, result.error


def test_half_a_frame_and_no_timeout_ends_at_the_default_timeout(life):
    ex = life(default_timeout=2, cancel_grace=0.2)
    started = time.monotonic()
    result = ex.run("life.half_frame")
    assert result.error_type in ("Timeout", "ProtocolError"), result
    assert time.monotonic() - started < 30


def test_the_timeout_error_states_the_requested_timeout(life):
    ex = life()
    result = ex.run("life.sleep_with_child", {"pidfile": "/dev/null", "seconds": 30}, timeout=1)
    assert result.error_type == "Timeout"
    assert "timed out after 1 s (its timeout)" in result.error


def test_close_kills_a_run_in_flight_and_reports_it(life, tmp_path):
    ex = life()
    pidfile = tmp_path / "pids"
    box = {}
    thread = threading.Thread(
        target=lambda: box.setdefault(
            "r", ex.run("life.sleep_with_child", {"pidfile": str(pidfile), "seconds": 60})
        )
    )
    thread.start()
    host, child = _read_pids(pidfile)
    started = time.monotonic()
    ex.close(grace=0.2)
    thread.join(30)
    assert time.monotonic() - started < 20
    result = box["r"]
    assert result.error_type == "ExecutorClosed", result
    assert "shut down" in result.error
    assert _wait_gone([host]) == []


def test_a_run_after_close_is_refused_with_one_result(life):
    ex = life()
    ex.close()
    result = ex.run("std.noop")
    assert result.error_type == "ExecutorClosed"


def _executor_script(tmp_path: Path, life_site: Path, launcher: str, action: str) -> Path:
    script = tmp_path / "owner.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys, threading, time
            from executor import Executor, ExecutorConfig
            from executor.sandbox.model import SandboxPolicy
            ex = Executor(ExecutorConfig(state_dir={str(tmp_path / "st")!r},
                launcher={launcher!r}, extra_paths=({str(life_site)!r},),
                sandbox=SandboxPolicy(enabled=False))).start()
            threading.Thread(target=ex.run, args=({action!r},
                {{"pidfile": {str(tmp_path / "pids")!r}}}), daemon=True).start()
            time.sleep(600)
            """
        )
    )
    return script


@pytest.mark.parametrize("launcher", ["fork", "spawn"])
def test_a_gil_holding_host_dies_with_a_sigkilled_executor(life_site, tmp_path, launcher):
    script = _executor_script(tmp_path, life_site, launcher, "life.spin")
    owner = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    try:
        (host,) = _read_pids(tmp_path / "pids", 60)
        assert process_exists(host)
        owner.kill()
        owner.wait(10)
        assert _wait_gone([host]) == []
    finally:
        if owner.poll() is None:
            owner.kill()


def test_a_template_dies_with_a_sigkilled_executor(detached_children, life_site, tmp_path):
    script = _executor_script(tmp_path, life_site, "fork", "life.sleep_with_child")
    owner = subprocess.Popen([sys.executable, str(script)], start_new_session=True)
    try:
        host, _child = _read_pids(tmp_path / "pids", 60)
        template = int(open(f"/proc/{host}/stat").read().rsplit(")", 1)[1].split()[1])
        owner.kill()
        owner.wait(10)
        assert _wait_gone([template, host]) == []
    finally:
        if owner.poll() is None:
            owner.kill()


def _hosts_of(parent: int) -> list[int]:
    """Host processes started with ``--parent-pid parent``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"--parent-pid" in argv and str(parent).encode() in argv:
                found.append(int(name))
    return found


def _sleeping_hosts_of(parent: int) -> list[int]:
    """``parent``'s host processes (the sandbox's and the host in it), once
    the host is past its handshake, running std.sleep; else none."""
    hosts = _hosts_of(parent)
    return hosts if any(map(asleep_in_nanosleep, hosts)) else []


def test_the_cli_stops_its_host_on_sigterm(tmp_path):
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(tmp_path / "st"))
    cli = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "action-executor"),
            *("run", "--launcher", "spawn", "std.sleep", "seconds=120"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        hosts = wait_until(lambda: _sleeping_hosts_of(cli.pid), 60, "the host running std.sleep")
        assert hosts
        cli.send_signal(signal.SIGTERM)
        assert cli.wait(30) != 0
        assert _wait_gone(hosts) == []
    finally:
        if cli.poll() is None:
            cli.kill()


def test_a_slow_template_start_does_not_eat_a_short_timeout(tmp_path):
    site = install_plugin(
        tmp_path / "slow-site",
        "slowplugin",
        "1.0",
        {"testplugins_slow_import": (HERE / "plugins" / "testplugins_slow_import.py").read_text()},
        {"slow.quick": "testplugins_slow_import:QuickAction"},
    )
    config = ExecutorConfig(
        state_dir=str(tmp_path / "state"),
        extra_paths=(str(site),),
        prestart_templates=False,
        sandbox=NO_SANDBOX,
        # imports at the template's start; with "used" the first run imports
        # the action itself, and that import counts against its timeout
        preload_actions="all",
    )
    with Executor(config) as ex:
        result = ex.run("slow.quick", timeout=1)
    assert result.data == "quick", result
    assert result.timings["host_start"] >= 2.5  # the template's 3 s import, not the run's


def test_templates_start_when_the_executor_starts(make_executor):
    ex = make_executor(prestart_templates=True)
    ex.start()
    deadline = time.monotonic() + 60
    while "default" not in ex.stats().templates and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "default" in ex.stats().templates
