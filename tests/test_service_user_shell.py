"""What an operator does from a shell as the service's user, without the
systemd unit: ``runuser -u mistral -- action-executor --state-dir
/var/lib/mistral-action-host install ...`` (docs/deploy-mistral.md).

That user has no capability, no delegated cgroup, no home (``useradd
--system``), may not enter the directory the shell is in (root's), and may
not write the plugin's checkout (root's). An install and a listing still
work: the check of a new build runs with no network, the limits and the
ids this user has; ``run`` and ``serve``, which need the whole sandbox,
refuse with the fixes named, never with a traceback.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from deployments import as_user, ensure_user, session_dir, world_readable_install
from helpers import tutorial_plugin
from sandbox_support import REGISTRY_SETTINGS

#: A service user of its own, created without a home, as Mistral's packages do.
USER = "mah-shell-test"


def _state(name: str) -> Path:
    state = session_dir() / f"shell-{name}"
    state.mkdir()
    entry = pwd.getpwnam(USER)
    os.chown(state, entry.pw_uid, entry.pw_gid)
    state.chmod(0o700)
    return state


def _as_service_user(argv: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` as USER from ``cwd`` (a directory USER may not enter), with
    the environment runuser leaves: a home that does not exist."""
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": pwd.getpwnam(USER).pw_dir,
        **{k: v for k, v in os.environ.items() if k.startswith(REGISTRY_SETTINGS)},
    }
    return subprocess.run(
        as_user(USER, argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def executable() -> str:
    ensure_user(USER)
    home = pwd.getpwnam(USER).pw_dir
    assert not os.path.exists(home) or not os.access(home, os.W_OK), home
    return str(world_readable_install() / "bin" / "action-executor")


@pytest.fixture(scope="module")
def installed(executable, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The tutorial's plugin, installed from a checkout owned by root."""
    shell_dir = tmp_path_factory.mktemp("roots-shell")  # mode 0700, root's
    plugin = session_dir() / "shell-plugin" / "my-actions"
    shutil.copytree(tutorial_plugin(shell_dir / "src"), plugin)
    for path in [plugin.parent, plugin, *plugin.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    state = _state("install")
    argv = [executable, "--state-dir", str(state), "install", "--env", "ops", str(plugin)]
    return state, _as_service_user(argv, cwd=shell_dir)


def test_an_install_as_the_service_user_from_roots_shell_builds_and_checks_the_plugin(installed):
    _state_dir, proc = installed
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "environment 'ops' ready: 1 action(s)" in proc.stderr
    assert "my.greet" in proc.stdout


def test_the_plugins_checkout_is_left_as_it_was(installed):
    _state_dir, proc = installed
    assert proc.returncode == 0, proc.stdout + proc.stderr  # it was built
    assert not list((session_dir() / "shell-plugin" / "my-actions").rglob("*.egg-info"))


def test_uv_keeps_its_cache_in_the_state_directory_when_the_user_has_no_home(installed):
    state, _proc = installed
    assert (state / "cache" / "uv").is_dir()


def test_actions_lists_the_installed_plugin_as_the_service_user(installed, executable, tmp_path):
    state, _proc = installed
    tmp_path.chmod(0o700)
    proc = _as_service_user(
        [executable, "--state-dir", str(state), "actions", "-f", "value", "-c", "name"],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "my.greet" in proc.stdout.split()


def test_run_without_the_sandbox_it_needs_exits_1_naming_the_fixes_without_a_traceback(
    executable, tmp_path
):
    proc = _as_service_user(
        [executable, "--state-dir", str(_state("run")), "run", "std.echo", "output=x"],
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot be enforced" in proc.stderr and "CAP_SETUID" in proc.stderr


def test_the_executor_api_answers_a_policy_it_cannot_enforce_with_a_result_naming_the_refusal(
    tmp_path,
):
    python = str(world_readable_install() / "bin" / "python")
    script = (
        "import json, sys\n"
        "from executor import Executor, ExecutorConfig\n"
        "ex = Executor(ExecutorConfig(state_dir=sys.argv[1]))\n"
        "r = ex.run('std.echo', {'output': 1})\n"
        "ex.close()\n"
        "print(json.dumps([str(r.error_type), r.exception, r.error]))\n"
    )
    proc = _as_service_user([python, "-c", script, str(_state("api"))], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    kind, exception, error = json.loads(proc.stdout)
    assert (kind, exception) == ("HostStartFailed", "SandboxUnavailable")
    assert "cannot be enforced" in error
