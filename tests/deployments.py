"""Deployments as an operator makes them, for tests that must not run as root.

The tests run as root, where the sandbox's probe finds every mechanism. What
an executor does without root (a service user, with or without the
capabilities its systemd unit grants) is only real when it runs as such a
user, so these helpers give tests:

* ``world_readable_install()``: this checkout installed (not editable) with
  its ``executor`` and ``std`` extras into a virtualenv any user can run.
  The test venv cannot be used: its interpreter resolves into
  ``/root/.pyenv``, which only root may enter.
* ``run_as(user, argv, caps=...)``: a command run as a system user of its
  own (created if missing), with no groups and only the capabilities named.
* ``readable_file(name, text)``: a file that user can read (pytest's own
  temporary directories are mode 0700).

Everything lives in one directory per test session, removed when the session
ends; directories of sessions that died are removed by the next one.
"""

from __future__ import annotations

import atexit
import functools
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import ROOT, venv_bin

#: Debian's interpreter: world-readable, unlike the test venv's.
SYSTEM_PYTHON = "/usr/bin/python3.11"
#: Not /var/tmp (nor /tmp or /home): the sandbox hides those and shows an
#: environment under them again, and the launcher fails to show a venv's
#: ``bin/python`` symlink there to an unprivileged user ("build_view failed:
#: Permission denied"). An operator's venv lives outside them (/opt, /srv,
#: /var/lib), so the tests' does too.
BASE = "/var/lib"
PREFIX = "mah-deploy-"
#: What a non-editable install of the checkout needs.
SOURCES = ("setup.cfg", "pyproject.toml", "README.rst")
PACKAGES = ("protocol", "action_host", "actions_api", "executor", "std_actions")
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}


def _need(path: str, what: str) -> None:
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: {what}", pytrace=False)


@functools.cache
def session_dir() -> Path:
    """This session's world-readable directory (removed at exit)."""
    _sweep()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=BASE))
    path.chmod(0o755)
    atexit.register(shutil.rmtree, path, True)
    return path


def _sweep() -> None:
    """Remove the directories of test sessions that are no longer running."""
    for entry in Path(BASE).glob(f"{PREFIX}*"):
        pid = entry.name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(entry, ignore_errors=True)


@functools.cache
def world_readable_install() -> Path:
    """A virtualenv (its directory) holding this checkout with the
    ``executor`` and ``std`` extras, that every user of the machine can run.

    The checkout's packages are copied first and installed from the copy, so
    the install never writes build artifacts into the checkout and a fresh
    path gives uv no cached build of an older state to reuse.
    """
    _need(SYSTEM_PYTHON, "the unprivileged tests run Debian's python3.11 (apt-get install python3)")
    uv = venv_bin("uv")
    _need(uv, "uv installs the world-readable venv; build the test venv with 'make venv'")
    root = session_dir()
    venv, source = root / "venv", root / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    for name in PACKAGES:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    _run([uv, "venv", "--quiet", "--python", SYSTEM_PYTHON, str(venv)], "uv venv")
    install = [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    install.append(f"{source}[executor,std]")
    offline = subprocess.run([*install, "--offline"], capture_output=True, text=True, check=False)
    if offline.returncode != 0:  # something is not in uv's cache yet
        _run(install, "uv pip install (from the package registry)")
    shutil.rmtree(source)
    return venv


def _run(argv: Sequence[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"{what} failed ({proc.returncode}): {proc.stderr[-3000:]}", pytrace=False)


def readable_file(name: str, text: str) -> Path:
    """``text`` in a new file every user can read (not write)."""
    files = session_dir() / "files"
    files.mkdir(mode=0o755, exist_ok=True)
    path = files / f"{uuid.uuid4().hex[:8]}-{name}"
    path.write_text(text)
    path.chmod(0o644)
    return path


def ensure_user(user: str) -> None:
    """A system user with no home and no login shell, created once (idempotent)."""
    try:
        pwd.getpwnam(user)
        return
    except KeyError:
        pass
    _need("/usr/sbin/useradd", "the unprivileged tests create their user with useradd (passwd)")
    proc = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", user],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        try:
            pwd.getpwnam(user)  # another test session made it meanwhile
        except KeyError:
            pytest.fail(f"cannot create user {user}: {proc.stderr}", pytrace=False)


def as_user(user: str, argv: Sequence[str], caps: Sequence[str] = ()) -> list[str]:
    """``argv`` prefixed to run as ``user`` with only ``caps`` (e.g. "setuid",
    "bpf"): its own group, no supplementary groups, ambient capabilities."""
    ensure_user(user)
    _need("/usr/bin/setpriv", "the unprivileged tests switch users with setpriv (util-linux)")
    prefix = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups"]
    if caps:
        named = ",".join(f"+{c}" for c in caps)
        prefix += [f"--inh-caps=-all,{named}", f"--ambient-caps={named}"]
    else:
        prefix += ["--inh-caps=-all"]
    return [*prefix, *argv]


def run_as(
    user: str,
    argv: Sequence[str],
    caps: Sequence[str] = (),
    *,
    env: dict[str, str] | None = None,
    cwd: str = "/",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` (see ``as_user``) in a clean environment."""
    return subprocess.run(
        as_user(user, argv, caps),
        env={**CLEAN_ENV, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
