"""What we ship installs and runs: ``make dist``'s wheel, with its
``executor`` extra, in a fresh virtualenv that knows nothing of this clone,
and an sdist that carries what an operator needs besides the code."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from deployments import session_dir
from helpers import ROOT, venv_bin


def _uv(*args: str, cwd: Path | str = ROOT) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [venv_bin("uv"), *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist and the wheel, built as ``make dist`` builds them."""
    out = tmp_path_factory.mktemp("dist")
    _uv("build", "--out-dir", str(out))
    return out


def test_the_wheel_with_its_executor_extra_runs_an_action_in_a_fresh_venv(dist, tmp_path):
    """The venv lives outside /tmp, as an installation does: each host gets a
    private /tmp of its own, where an interpreter under /tmp is not."""
    (wheel,) = dist.glob("mistral_action_host-*-py3-none-any.whl")
    venv = session_dir() / "dist-venv"  # "venv" is world_readable_install's
    _uv("venv", "--quiet", "--python", venv_bin("python"), str(venv), cwd=tmp_path)
    _uv("pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
        f"{wheel}[executor]", cwd=tmp_path)  # fmt: skip
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ACTION_EXECUTOR_STATE_DIR": str(tmp_path / "state"),
    }
    proc = subprocess.run(
        [str(venv / "bin" / "action-executor"), "run", "std.echo", "output=from the wheel"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["success"] is True and result["data"] == "from the wheel"
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import executor; print(executor.__file__)"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert installed.stdout.startswith(str(venv)), installed.stdout  # not this clone's


def test_the_sdist_carries_the_unit_the_sample_configuration_and_the_guide(dist):
    (sdist,) = dist.glob("mistral_action_host-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for wanted in (
        "etc/systemd/action-executor.service",
        "etc/mistral-action-host.conf.sample",
        "docs/deploy-mistral.md",
        "README.rst",
        "Makefile",
    ):
        assert wanted in names, wanted


def test_the_wheel_ships_the_protocol_schema_and_the_type_marker(dist):
    import zipfile

    (wheel,) = dist.glob("mistral_action_host-*-py3-none-any.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"protocol/schema.json", "actions_api/py.typed", "std_actions/basic.py"} <= names
    assert os.path.basename(wheel).startswith("mistral_action_host-")
