"""Building one new version of an environment aside, where nothing uses it yet.

A build is a virtualenv under ``.versions/<name>-<12 hex>`` made by uv, the
executor's runtime wheel and the environment's whole requirement list
installed into it, and its actions listed by ``action-host --inspect`` run
inside it (sandboxed). ``EnvironmentStore`` decides whether it is swapped in;
a build that fails removes its directory, so a failed change leaves only the
version in use.

uv builds environments: about 100x faster than ``python -m venv`` + pip
here (floors.md §7), and it comes from the package registry as a dependency
of the ``executor`` extra.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from executor.environments.index import InspectFailed, inspect_report
from executor.environments.model import (
    Environment,
    EnvironmentChangeFailed,
    EnvRecord,
    EnvSettings,
)
from executor.environments.specs import requirement_name
from executor.environments.wheels import RUNTIME_DISTRIBUTION, build_runtime_wheel
from executor.layout import StateLayout
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.runtime import SandboxRuntime
from protocol.messages import ActionInfo

ProgressT = Callable[[str], None]
_BUILD_ID = re.compile(r"^(?P<env>.+)-(?P<id>[0-9a-f]{12})$")


def version_of(build_dir_name: str) -> str | None:
    """The environment a build directory (``<env>-<12 hex>``) belongs to."""
    match = _BUILD_ID.match(build_dir_name)
    return match["env"] if match else None


def find_uv() -> str:
    """The uv binary: the ``uv`` package's, else one on PATH next to this interpreter."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except Exception:
        found = shutil.which(
            "uv", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
        )
        if not found:
            raise EnvironmentChangeFailed(
                "uv is not installed: install mistral-action-host with its 'executor' "
                "extra (pip install 'mistral-action-host[executor]')"
            ) from None
        return found


def uv_environ(layout: StateLayout) -> dict[str, str]:
    """The environment of our uv runs. uv's cache is the user's own where that
    user may write it (``UV_CACHE_DIR``, else ``$XDG_CACHE_HOME/uv`` or
    ``~/.cache/uv``), else the state directory's ``cache/uv``: a service
    user's home often does not exist (``useradd --system``)."""
    environ = dict(os.environ)
    if environ.get("UV_CACHE_DIR"):
        return environ
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    try:
        os.makedirs(os.path.join(base, "uv"), exist_ok=True)
        if os.access(os.path.join(base, "uv"), os.W_OK | os.X_OK):
            return environ
    except OSError:
        pass
    environ["UV_CACHE_DIR"] = os.path.join(layout.cache, "uv")
    return environ


@dataclass
class Build:
    """A version built aside and its actions; ``discard`` it unless it was swapped in."""

    directory: str
    infos: list[ActionInfo]

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class VersionBuilder:
    """Builds new versions under ``layout``'s ``.versions`` directory.

    ``config_files`` are the executor's host config files, which the check
    of a build loads like every host does; ``runtime`` (or one of its own)
    sandboxes that check under ``policy``.
    """

    layout: StateLayout
    uv_args: Sequence[str]
    progress: ProgressT
    config_files: tuple[str, ...]
    runtime: SandboxRuntime | None
    policy: SandboxPolicy | None

    def build(
        self,
        record: EnvRecord,
        upgrade_specs: Sequence[str],
        *,
        upgrade: bool = False,
        strict: bool = False,
        report_notices: bool = False,
    ) -> Build:
        """A new version holding ``record``'s requirements, checked.

        ``upgrade``: upgrade ``upgrade_specs`` (every package if none);
        ``strict``: refuse a build with any discovery notice, which
        ``report_notices`` shows as warnings.
        """
        if not os.path.exists(record.python):
            raise EnvironmentChangeFailed(f"interpreter {record.python} does not exist")
        directory = os.path.join(self.layout.env_versions, f"{record.name}-{uuid.uuid4().hex[:12]}")
        uv = find_uv()
        try:
            self.progress(f"building environment {record.name!r} in {directory}")
            self._run(
                [uv, "venv", "--quiet", "--python", record.python, directory],
                "creating the virtualenv",
            )
            self._install(uv, record, directory, _upgrade_arguments(upgrade, upgrade_specs))
            infos = self._check(record, directory, strict=strict, report_notices=report_notices)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return Build(directory, infos)

    def _install(self, uv: str, record: EnvRecord, directory: str, upgrade: list[str]) -> None:
        """The runtime wheel and every requirement, in one uv run."""
        runtime = build_runtime_wheel(self.layout.wheels)
        scratch = f"{directory}-sources"
        try:
            command = [
                uv,
                "pip",
                "install",
                "--python",
                os.path.join(directory, "bin", "python"),
                *self.uv_args,
                runtime,
                *self._sources(record.requirements, scratch),
                *upgrade,
            ]
            n = len(record.requirements)
            self._run(command, f"installing the runtime and {n} requirement(s) with uv")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _sources(self, requirements: Sequence[str], scratch: str) -> list[str]:
        """The requirements, a local directory this user may not write built
        from a copy: a setuptools build writes its ``.egg-info`` into the
        source tree (an operator's checkout, owned by root, installed as the
        service's user)."""
        out: list[str] = []
        for spec in requirements:
            if os.path.isdir(spec) and not os.access(spec, os.W_OK):
                copy = os.path.join(scratch, f"{len(out)}-{os.path.basename(spec.rstrip('/'))}")
                self.progress(f"{spec} is not writable here: building it from a copy")
                shutil.copytree(spec, copy, symlinks=True)
                for folder, _dirs, _files in os.walk(copy):
                    os.chmod(folder, os.stat(folder).st_mode | stat.S_IRWXU)
                spec = copy
            out.append(spec)
        return out

    def _check(
        self, record: EnvRecord, directory: str, *, strict: bool, report_notices: bool
    ) -> list[ActionInfo]:
        """The build's actions (not the runtime's), as ``action-host --inspect`` lists them."""
        env = Environment(
            record.name,
            os.path.join(directory, "bin", "python"),
            path=directory,
            settings=EnvSettings.from_dict(record.settings),
        )
        self.progress("checking the environment's actions (action-host --inspect)")
        try:
            report = inspect_report(
                env,
                self.layout,
                env.host_arguments(self.config_files),
                self.runtime,
                self.policy,
            )
        except InspectFailed as exc:
            raise EnvironmentChangeFailed(str(exc)) from None
        infos = [i for i in report.actions if i.distribution != RUNTIME_DISTRIBUTION]
        if report_notices:
            for notice in report.notices:
                self.progress(f"warning: {notice}")
            if strict and report.notices:
                raise EnvironmentChangeFailed(
                    f"refused (--strict): environment {record.name!r}: "
                    + "; ".join(report.notices)
                    + ". The environment is unchanged."
                )
        return infos

    def _run(self, command: list[str], what: str) -> None:
        self.progress(f"{what}: {' '.join(command[1:4])} ...")
        started = time.monotonic()
        # Not the caller's directory: uv reads uv.toml and pyproject.toml
        # there and fails on one the service's user may not enter
        # ("runuser -u mistral -- action-executor install" from /root). The
        # store made the directory (its _rebuild lists it first).
        proc = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=self.layout.env_versions,
            env=uv_environ(self.layout),
        )
        if proc.returncode != 0:
            raise EnvironmentChangeFailed(
                f"{what} failed (exit code {proc.returncode}); the environment is unchanged.\n"
                f"{proc.stdout.strip()[-3000:]}"
            )
        self.progress(f"{what}: done in {time.monotonic() - started:.1f} s")


def _upgrade_arguments(upgrade: bool, specs: Sequence[str]) -> list[str]:
    """uv's options to upgrade ``specs`` (every package when none is named)."""
    if not upgrade:
        return []
    if not specs:
        return ["--upgrade"]
    return [arg for spec in specs for arg in ("--upgrade-package", requirement_name(spec) or spec)]
