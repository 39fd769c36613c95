"""Isolated plugin environments: real virtualenvs, offline, with local wheels."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import venv_bin

from executor import Executor, ExecutorConfig
from executor.environments.store import EnvironmentChangeFailed
from executor.environments.wheels import build_wheel

UV_OFFLINE = ["--offline"]


def _plugin(name: str, action: str, body: str, requires=(), version="1.0") -> dict:
    module = name.replace("-", "_")
    source = (
        "from actions_api import Action\n"
        f"{body}\n"
        "class Report(Action):\n"
        f'    """Report {name}."""\n'
        "    def run(self, context):\n"
        "        return report()\n"
    )
    return {
        "name": name,
        "version": version,
        "files": {f"{module}.py": source.encode()},
        "requires": list(requires),
        "entry_points": {"mistral.actions": {action: f"{module}:Report"}},
    }


PACKAGES = [
    {"name": "tinylib", "version": "1.0", "files": {"tinylib.py": b'VERSION = "1.0"\n'}},
    {"name": "tinylib", "version": "2.0", "files": {"tinylib.py": b'VERSION = "2.0"\n'}},
    _plugin(
        "plugin-a",
        "a.version",
        "import tinylib\ndef report():\n    return {'plugin': 'a', 'tinylib': tinylib.VERSION}",
        requires=["tinylib==1.0"],
    ),
    _plugin(
        "plugin-a",
        "a.version",
        "import tinylib\ndef report():\n    return {'plugin': 'a 1.1', 'tinylib': tinylib.VERSION}",
        requires=["tinylib==1.0"],
        version="1.1",
    ),
    _plugin(
        "plugin-b",
        "b.version",
        "import tinylib\ndef report():\n    return {'plugin': 'b', 'tinylib': tinylib.VERSION}",
        requires=["tinylib==2.0"],
    ),
    _plugin(
        "plugin-clash",
        "a.version",
        "def report():\n    return {'plugin': 'clash'}",
    ),
    {
        "name": "plugin-mixed",
        "version": "1.0",
        "files": {
            "mixed_ok.py": b"from actions_api import Action\nclass Ok(Action):\n"
            b"    def run(self, context):\n        return 'ok'\n",
            "mixed_bad.py": b"raise RuntimeError('this plugin is broken on purpose')\n",
        },
        "entry_points": {
            "mistral.actions": {"mixed.ok": "mixed_ok:Ok", "mixed.bad": "mixed_bad:Bad"}
        },
    },
    _plugin(
        "plugin-slow",
        "slow.action",
        "import os, time\ntime.sleep(60)\ndef report():\n    return 'slow'",
    ),
]


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheelhouse")
    for pkg in PACKAGES:
        build_wheel(
            str(folder),
            pkg["name"],
            pkg["version"],
            pkg["files"],
            requires=pkg.get("requires", ()),
            entry_points=pkg.get("entry_points"),
        )
    return folder


@pytest.fixture(scope="module")
def env_state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("env-state")


@pytest.fixture(scope="module")
def ex(env_state):
    with Executor(ExecutorConfig(state_dir=str(env_state))) as executor:
        yield executor


def _install(ex, env, *specs, wheelhouse, **kw):
    return ex.install(
        env, list(specs), uv_args=[*UV_OFFLINE, "--find-links", str(wheelhouse)], **kw
    )


@pytest.fixture(scope="module")
def alpha_beta(ex, wheelhouse):
    _install(ex, "alpha", "plugin-a==1.0", wheelhouse=wheelhouse)
    _install(ex, "beta", "plugin-b", wheelhouse=wheelhouse)
    return ex


def test_plugins_needing_conflicting_library_versions_both_run(alpha_beta):
    a = alpha_beta.run("a.version")
    b = alpha_beta.run("b.version")
    assert a.data == {"plugin": "a", "tinylib": "1.0"}, a.error
    assert b.data == {"plugin": "b", "tinylib": "2.0"}, b.error
    assert a.host_pid != b.host_pid


def test_actions_are_listed_with_their_environment(alpha_beta):
    entries = {info.name: env for env, info in alpha_beta.catalog.entries()}
    assert entries["a.version"] == "alpha"
    assert entries["b.version"] == "beta"
    assert entries["std.echo"] == "default"


def test_each_environment_has_its_own_template(alpha_beta):
    alpha_beta.run("a.version")
    alpha_beta.run("b.version")
    templates = alpha_beta.stats().templates
    assert templates["alpha"] != templates["beta"]
    with open(f"/proc/{templates['alpha']}/cmdline", "rb") as f:
        interpreter = f.read().split(b"\0")[0].decode()
    assert interpreter.startswith(str(alpha_beta.store.root))


def test_qualified_names_pick_the_environment(alpha_beta):
    assert alpha_beta.run("beta:b.version").data["tinylib"] == "2.0"
    missing = alpha_beta.run("alpha:b.version")
    assert missing.error_type == "ActionNotFound"
    assert "environment 'alpha' has no action 'b.version'" in missing.error


def test_environments_hold_the_executors_runtime_and_not_its_site_packages(alpha_beta, tmp_path):
    python = alpha_beta.store.environment("alpha").python
    probe = subprocess.run(
        [
            python,
            "-c",
            "import sys, importlib.metadata as m; "
            "print(m.version('mistral-action-host')); print(sys.path)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.splitlines()
    assert probe[0].startswith("0.1.0+rt")
    executor_site = [p for p in sys.path if p.endswith("site-packages")]
    assert not any(p in probe[1] for p in executor_site)
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run(
            [python, "-c", "import executor"], check=True, capture_output=True, cwd=tmp_path
        )


def test_a_name_clash_is_refused_at_install_time_and_changes_nothing(alpha_beta, wheelhouse):
    with pytest.raises(EnvironmentChangeFailed, match=r"a\.version \(also in alpha\)") as info:
        _install(alpha_beta, "gamma", "plugin-clash", wheelhouse=wheelhouse)
    assert "--prefer" in str(info.value)
    assert "gamma" not in alpha_beta.store.names()
    assert alpha_beta.run("a.version").data["plugin"] == "a"


def test_prefer_makes_an_environment_win_a_name_and_keeps_the_other_reachable(
    ex, wheelhouse, alpha_beta
):
    _install(ex, "delta", "plugin-clash", wheelhouse=wheelhouse, prefer=True)
    try:
        assert ex.run("a.version").data == {"plugin": "clash"}
        assert ex.run("alpha:a.version").data["plugin"] == "a"
    finally:
        ex.store.remove("delta")
    assert ex.run("a.version").data["plugin"] == "a"


def test_removing_an_environment_removes_its_actions(ex, wheelhouse):
    _install(ex, "epsilon", "plugin-mixed", wheelhouse=wheelhouse)
    assert ex.run("mixed.ok").data == "ok"
    ex.store.remove("epsilon")
    assert "mixed.ok" not in {info.name for info in ex.actions()}
    assert ex.run("mixed.ok").error_type == "ActionNotFound"
    assert not os.path.exists(os.path.join(ex.store.root, "epsilon"))


def test_inspect_inside_an_environment_reports_broken_plugins_next_to_working_ones(ex, wheelhouse):
    _install(ex, "zeta", "plugin-mixed", wheelhouse=wheelhouse)
    env = ex.store.environment("zeta")
    out = subprocess.run(
        [os.path.join(env.path, "bin", "action-host"), "--inspect"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(env.path)},
    ).stdout
    real = env.target()  # the build the environment's symlink points at
    assert f"interpreter: {real}/bin/python" in out
    assert f"environment: {real}" in out
    assert "mixed.ok" in out
    bad = next(line for line in out.splitlines() if line.startswith("mixed.bad"))
    assert "RuntimeError: this plugin is broken on purpose (at mixed_bad.py:1)" in bad
    assert ex.run("mixed.ok").data == "ok"
    assert "broken on purpose" in ex.run("mixed.bad").error
    ex.store.remove("zeta")


def test_upgrade_swaps_in_the_new_version_and_restarts_its_template(ex, wheelhouse, alpha_beta):
    before = ex.run("alpha:a.version")
    old_template = ex.stats().templates["alpha"]
    store = type(ex.store)(
        ex.config.state_dir, uv_args=[*UV_OFFLINE, "--find-links", str(wheelhouse)]
    )
    store.install("alpha", ["plugin-a"], upgrade=True)
    record = store.record("alpha")
    assert record.requirements == ["plugin-a==1.0", "plugin-a"]
    # plugin-a==1.0 is still pinned, so the upgrade keeps 1.0 ...
    assert ex.run("alpha:a.version").data == before.data
    # ... until the pin is dropped from the record.
    record_path = Path(ex.store.root) / "alpha.json"
    data = json.loads(record_path.read_text())
    data["requirements"] = ["plugin-a"]
    record_path.write_text(json.dumps(data))
    store.install("alpha", [], upgrade=True)
    after = ex.run("alpha:a.version")
    assert after.data == {"plugin": "a 1.1", "tinylib": "1.0"}, after.error
    assert ex.stats().templates["alpha"] != old_template


def _inspecting(session: int) -> bool:
    """An ``action-host --inspect`` of the install started as ``session`` runs."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if b"--inspect" in f.read() and os.getsid(int(entry)) == session:
                        return True
            except OSError:
                continue
    return False


def test_an_install_killed_half_way_leaves_the_environment_as_it_was(
    env_state, wheelhouse, alpha_beta
):
    link = Path(alpha_beta.store.root) / "alpha"
    before_target = os.path.realpath(link)
    before_record = (Path(alpha_beta.store.root) / "alpha.json").read_text()
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(env_state))
    proc = subprocess.Popen(
        [
            venv_bin("action-executor"),
            "install",
            "--env",
            "alpha",
            "--offline",
            "--find-links",
            str(wheelhouse),
            "plugin-slow",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not _inspecting(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _inspecting(proc.pid), "the install never reached the check of its new build"
    time.sleep(0.5)  # importing the slow plugin, sandboxed (it sleeps at import)
    os.killpg(proc.pid, signal.SIGKILL)  # the install and its inspect child
    proc.wait()
    assert os.path.realpath(link) == before_target
    assert (Path(alpha_beta.store.root) / "alpha.json").read_text() == before_record
    assert alpha_beta.run("alpha:a.version").is_success()
    # the half-built version is cleaned up by the next change
    _install(alpha_beta, "alpha", wheelhouse=wheelhouse)
    leftovers = [v for v in os.listdir(alpha_beta.store.versions) if v.startswith("alpha-")]
    assert leftovers == [os.path.basename(os.path.realpath(link))]


def test_the_cli_manages_environments(env_state, wheelhouse, alpha_beta):
    env = dict(os.environ, ACTION_EXECUTOR_STATE_DIR=str(env_state))

    def cli(*args):
        return subprocess.run(
            [venv_bin("action-executor"), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    created = cli("env", "create", "eta")
    assert created.returncode == 0, created.stderr
    assert "creating the virtualenv" in created.stderr  # progress is shown
    installed = cli(
        "install", "--env", "eta", "--offline", "--find-links", str(wheelhouse), "plugin-mixed"
    )
    assert installed.returncode == 0, installed.stderr
    assert "mixed.ok" in installed.stdout
    where = "RuntimeError: this plugin is broken on purpose (at mixed_bad.py:1)"
    assert where in installed.stdout + installed.stderr  # install points at the code
    assert "eta" in cli("env", "list").stdout
    shown = cli("env", "show", "eta").stdout
    assert "plugin-mixed 1.0" in shown and "mixed.bad  BROKEN" in shown and "size:" in shown
    listing = cli("actions").stdout
    assert any(line.split()[:2] == ["mixed.ok", "eta"] for line in listing.splitlines())
    assert where in listing  # so does actions
    ran = cli("run", "eta:mixed.ok")
    assert ran.returncode == 0 and json.loads(ran.stdout)["data"] == "ok"
    assert cli("env", "remove", "eta").returncode == 0
    missing = cli("env", "show", "eta")
    assert missing.returncode == 2 and "no environment named 'eta'" in missing.stderr
    bad = cli(
        "install", "--env", "theta", "--offline", "--find-links", str(wheelhouse), "no-such-package"
    )
    assert bad.returncode == 1
    assert "the environment is unchanged" in bad.stderr


def test_environments_whose_names_share_a_prefix_stay_apart(ex, wheelhouse):
    _install(ex, "foo", "plugin-mixed", wheelhouse=wheelhouse)
    _install(ex, "foo-bar", "plugin-clash", wheelhouse=wheelhouse, prefer=True)
    try:
        _install(ex, "foo", wheelhouse=wheelhouse)  # rebuild foo: must not touch foo-bar
        assert os.path.exists(ex.store.environment("foo-bar").python)
        assert ex.run("foo-bar:a.version").data == {"plugin": "clash"}
    finally:
        ex.store.remove("foo")
        ex.store.remove("foo-bar")


def test_an_unusable_environment_does_not_break_the_others(ex, wheelhouse):
    _install(ex, "iota", "plugin-mixed", wheelhouse=wheelhouse)
    try:
        os.unlink(os.path.join(ex.store.environment("iota").target(), "bin", "python"))
        ex.catalog.refresh(force=True)
        assert ex.run("std.echo", {"output": 1}).data == 1
        assert "mixed.ok" not in {a.name for a in ex.actions()}
    finally:
        ex.store.remove("iota")
