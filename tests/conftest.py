"""Shared fixtures: a real test plugin distribution and executors that use it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import HERE, TEST_ACTIONS, install_plugin
from openstack_standins import start_cloud, stop_cloud

from executor import Executor, ExecutorConfig
from executor.sandbox.model import SandboxPolicy

#: These fixtures check behaviour that needs the host's view: pids an action
#: reports are compared with the host's /proc, actions write into pytest's 0700
#: tmp dirs. The sandbox itself is tested, with its defaults, in test_sandbox.py.
NO_SANDBOX = SandboxPolicy(enabled=False)

#: A session fails when its tests leave a process running (``leftovers``).
pytest_plugins = ["leftovers"]


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    modules = {
        name: (HERE / "plugins" / f"{name}.py").read_text()
        for name in (
            "testplugins_actions",
            "testplugins_broken",
            "testplugins_hostile",
            "testplugins_attacks",
            "testplugins_secrets",
        )
    }
    # Readable by the sandbox's unprivileged uid (pytest makes its dirs 0700): a
    # sandboxed host imports an action itself until its template has preloaded it.
    site.chmod(0o755)
    return install_plugin(site, "testplugins", "1.0", modules, TEST_ACTIONS)


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


@pytest.fixture(scope="session")
def spawn_executor(plugin_site: Path, state_dir: Path):
    config = ExecutorConfig(
        state_dir=str(state_dir),
        launcher="spawn",
        extra_paths=(str(plugin_site),),
        sandbox=NO_SANDBOX,
    )
    with Executor(config) as ex:
        yield ex


@pytest.fixture(scope="session")
def fork_executor(plugin_site: Path, state_dir: Path):
    config = ExecutorConfig(
        state_dir=str(state_dir),
        launcher="fork",
        extra_paths=(str(plugin_site),),
        sandbox=NO_SANDBOX,
    )
    with Executor(config) as ex:
        yield ex


@pytest.fixture(params=["fork", "spawn"])
def executor(request):
    """Behaviour tests run against both launchers."""
    return request.getfixturevalue(f"{request.param}_executor")


@pytest.fixture
def make_executor(plugin_site: Path, state_dir: Path):
    """Build executors with config overrides; closed after the test."""
    made = []

    def make(**overrides):
        overrides.setdefault("launcher", "fork")
        overrides.setdefault("sandbox", NO_SANDBOX)
        config = ExecutorConfig(
            state_dir=str(state_dir), extra_paths=(str(plugin_site),), **overrides
        )
        ex = Executor(config)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.close()


@pytest.fixture(scope="module")
def cloud():
    """The stand-in OpenStack cloud on loopback (``openstack_standins``), per module."""
    cloud = start_cloud()
    yield cloud
    stop_cloud(cloud)
