"""Environment settings: PATH, variables, limits, modules imported first and an
oslo.config file, stored with the environment and changed without a rebuild.

A real environment (built offline) holds a probe action that reports what
its host sees; both launchers run it.
"""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import install_plugin, venv_bin

from executor import Executor, ExecutorConfig
from executor.environments.store import EnvironmentChangeFailed
from executor.environments.wheels import build_wheel

PROBE = '''
import os
import resource
import shutil
import sys

PREIMPORTED = "probe_first" in sys.modules

from actions_api import Action

try:
    from oslo_config import cfg

    cfg.CONF.register_opts([cfg.StrOpt("greeting", default="unset")], group="probe")
except ImportError:
    cfg = None

LIMITS = {
    "address_space": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "open_files": resource.RLIMIT_NOFILE,
    "file_size": resource.RLIMIT_FSIZE,
}


def tool():
    print("probe tool")


class Probe(Action):
    """Report what this host sees."""

    def run(self, context):
        return {
            "path": os.environ["PATH"].split(os.pathsep),
            "variable": os.environ.get("PROBE_VARIABLE"),
            "tool": shutil.which("probe-tool"),
            "limits": {name: resource.getrlimit(which)[0] for name, which in LIMITS.items()},
            "preimported": PREIMPORTED,
            "greeting": cfg.CONF.probe.greeting if cfg else None,
            "pid": os.getpid(),
        }
'''

GIB = 1024**3


@pytest.fixture(scope="module")
def state(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("settings-state")


@pytest.fixture(scope="module")
def fork_ex(state):
    with Executor(ExecutorConfig(state_dir=str(state), launcher="fork")) as ex:
        yield ex


@pytest.fixture(scope="module")
def spawn_ex(state):
    with Executor(ExecutorConfig(state_dir=str(state), launcher="spawn")) as ex:
        yield ex


@pytest.fixture(scope="module")
def probe_env(fork_ex, tmp_path_factory):
    wheels = tmp_path_factory.mktemp("settings-wheels")
    build_wheel(
        str(wheels),
        "settings-probe",
        "1.0",
        {"settings_probe.py": PROBE.encode(), "probe_first.py": b"FIRST = True\n"},
        requires=["oslo.config"],
        entry_points={
            "mistral.actions": {"probe.report": "settings_probe:Probe"},
            "console_scripts": {"probe-tool": "settings_probe:tool"},
        },
    )
    fork_ex.install("probe", ["settings-probe"], uv_args=["--offline", "--find-links", str(wheels)])
    return fork_ex.store.environment("probe")


@pytest.fixture(params=["fork", "spawn"])
def ex(request, probe_env):
    return request.getfixturevalue(f"{request.param}_ex")


@pytest.fixture
def clean_settings(fork_ex, probe_env):
    """Every test starts from an environment without settings."""
    keys = ["path", "preimport", "config_file", "strict_serialization"]
    keys += ["env.PROBE_VARIABLE", *(f"limits.{n}" for n in ("address_space", "open_files"))]
    fork_ex.store.set_settings("probe", [], keys)
    yield
    fork_ex.store.set_settings("probe", [], keys)


def _probe(ex) -> dict:
    result = ex.run("probe.report")
    assert result.is_success(), result.error
    return result.data


def test_the_environments_bin_comes_first_on_path_and_its_programs_are_found(
    ex, probe_env, clean_settings
):
    seen = _probe(ex)
    bin_dir = os.path.join(probe_env.target(), "bin")
    assert seen["path"][0] == bin_dir
    assert seen["path"][1:] == ["/usr/local/bin", "/usr/bin", "/bin"]
    assert seen["tool"] == os.path.join(bin_dir, "probe-tool")


def test_env_set_adds_path_entries_and_variables_without_a_rebuild(
    ex, fork_ex, probe_env, clean_settings, tmp_path
):
    target = probe_env.target()
    fork_ex.store.set_settings("probe", [f"path={tmp_path}", "env.PROBE_VARIABLE=hello"])
    seen = _probe(ex)
    assert seen["path"][:2] == [os.path.join(probe_env.target(), "bin"), str(tmp_path)]
    assert seen["variable"] == "hello"
    assert fork_ex.store.environment("probe").target() == target  # same build


def test_env_set_limits_override_the_executors_per_environment(ex, fork_ex, clean_settings):
    # V8 (py_mini_racer) reserves far more address space than the default 4 GiB.
    fork_ex.store.set_settings("probe", ["limits.address_space=256G", "limits.open_files=200"])
    limits = _probe(ex)["limits"]
    assert limits["address_space"] == 256 * GIB
    assert limits["open_files"] == 200
    assert limits["file_size"] == ExecutorConfig().limits["file_size"]  # executor's default


def test_an_unlimited_limit_lifts_the_executors_default(ex, fork_ex, clean_settings):
    fork_ex.store.set_settings("probe", ["limits.address_space=unlimited"])
    assert _probe(ex)["limits"]["address_space"] == resource.getrlimit(resource.RLIMIT_AS)[0]


def test_preimported_modules_are_imported_before_the_actions(ex, fork_ex, clean_settings):
    assert _probe(ex)["preimported"] is False
    fork_ex.store.set_settings("probe", ["preimport=probe_first"])
    assert _probe(ex)["preimported"] is True


def test_the_environments_config_file_is_loaded_before_the_actions(
    ex, fork_ex, clean_settings, tmp_path
):
    conf = tmp_path / "probe.conf"
    conf.write_text("[probe]\ngreeting = hello from the config file\n")
    fork_ex.store.set_settings("probe", [f"config_file={conf}"])
    assert _probe(ex)["greeting"] == "hello from the config file"


def test_env_set_restarts_the_environments_template(fork_ex, clean_settings):
    fork_ex.run("probe.report")
    before = fork_ex.stats().templates["probe"]
    fork_ex.store.set_settings("probe", ["env.PROBE_VARIABLE=restart"])
    assert _probe(fork_ex)["variable"] == "restart"
    assert fork_ex.stats().templates["probe"] != before


def test_settings_that_cannot_work_are_refused_and_change_nothing(fork_ex, clean_settings):
    store = fork_ex.store
    with pytest.raises(
        EnvironmentChangeFailed, match="PATH belongs to the sandbox: add directories"
    ):
        store.set_settings("probe", ["env.PATH=/x"])
    with pytest.raises(EnvironmentChangeFailed, match="unknown limit 'memory'"):
        store.set_settings("probe", ["limits.memory=1G"])
    with pytest.raises(EnvironmentChangeFailed, match="not a whole number"):
        store.set_settings("probe", ["limits.open_files=many"])
    with pytest.raises(EnvironmentChangeFailed, match="does not exist"):
        store.set_settings("probe", ["config_file=/nonexistent.conf"])
    with pytest.raises(EnvironmentChangeFailed, match="unknown setting 'colour'"):
        store.set_settings("probe", ["colour=blue"])
    with pytest.raises(EnvironmentChangeFailed, match="run --config-file FILE"):
        store.set_settings("default", ["env.X=1"])
    assert store.record("probe").settings["environ"] == {}


def _cli(state: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [venv_bin("action-executor"), "--state-dir", str(state), *args],
        capture_output=True,
        text=True,
        cwd="/",
    )


def test_the_cli_sets_settings_and_env_show_lists_them(state, probe_env, clean_settings):
    done = _cli(state, "env", "set", "probe", "env.PROBE_VARIABLE=cli", "limits.open_files=512")
    assert done.returncode == 0, done.stderr
    assert "env.PROBE_VARIABLE=cli" in done.stdout
    shown = _cli(state, "env", "show", "probe", "-f", "json")
    assert shown.returncode == 0, shown.stderr
    settings = json.loads(shown.stdout)["settings"]
    assert settings == ["env.PROBE_VARIABLE=cli", "limits.open_files=512"]
    unset = _cli(state, "env", "set", "probe", "--unset", "env.PROBE_VARIABLE")
    assert unset.returncode == 0, unset.stderr
    assert "PROBE_VARIABLE" not in unset.stdout
    refused = _cli(state, "env", "set", "probe", "env.HOME=/root")
    assert refused.returncode != 0
    assert "HOME belongs to the sandbox" in refused.stderr


def test_the_default_environment_takes_its_settings_from_the_executor_config(tmp_path):
    site = install_plugin(
        tmp_path / "site",
        "probe-default",
        "1.0",
        {"settings_probe": PROBE, "probe_first": "FIRST = True\n"},
        {"probe.report": "settings_probe:Probe"},
    )
    for launcher in ("fork", "spawn"):
        config = ExecutorConfig(
            state_dir=str(tmp_path / "state"),
            launcher=launcher,
            extra_paths=(str(site),),
            host_path=(str(tmp_path),),
            host_environ={"PROBE_VARIABLE": "from config"},
            preimport_modules=("probe_first",),
            limits={**ExecutorConfig().limits, "open_files": 300},
        )
        with Executor(config) as ex:
            seen = _probe(ex)
        assert seen["path"][:2] == [os.path.dirname(sys.executable), str(tmp_path)]
        assert seen["variable"] == "from config"
        assert seen["preimported"] is True
        assert seen["limits"]["open_files"] == 300


def _interpreter(version: str) -> str | None:
    """An interpreter of ``version`` on this machine (uv's or pyenv's), if any."""
    import glob
    import shutil

    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for path in candidates:
        probe = subprocess.run([path, "--version"], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.split()[1].startswith(f"{version}."):
            return path
    return None


@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_environments_of_every_supported_python_run_actions(version, tmp_path):
    python = _interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter on this machine")
    wheels = tmp_path / "wheels"
    build_wheel(
        str(wheels),
        "version-probe",
        "1.0",
        {
            "version_probe.py": b"import sys\nfrom actions_api import Action\n"
            b"class Version(Action):\n    def run(self, context):\n"
            b"        return sys.version.split()[0]\n"
        },
        entry_points={"mistral.actions": {"version.probe": "version_probe:Version"}},
    )
    with Executor(ExecutorConfig(state_dir=str(tmp_path / "state"))) as ex:
        ex.store.create("py", python)  # the runtime's requirements resolve for it
        ex.install("py", ["version-probe"], uv_args=["--find-links", str(wheels)])
        result = ex.run("version.probe")
    assert result.is_success(), result.error
    assert result.data.startswith(f"{version}.")
