"""Named plugin environments: virtualenvs built with uv, swapped in atomically.

Layout under ``<state_dir>/envs``::

    <name>            symlink -> .versions/<name>-<id>   (what hosts use)
    <name>.json       the environment's record: python, requirements, preferences
    .versions/<name>-<id>/   one complete virtualenv per build
    .locks/<name>.lock       serialises changes to one environment

Every change (create, install, upgrade) builds a *new* virtualenv from the
environment's whole requirement list, checks it (``action-host --inspect``
inside it, name clashes with other environments), and only then flips the
symlink, an atomic rename. A failed, refused or interrupted change leaves
the environment exactly as it was; half-built versions are removed by the
next change. Each environment gets the executor's own runtime (a locally
built wheel, see ``wheels.py``) and never the executor's site-packages.

uv builds environments: about 100x faster than ``python -m venv`` + pip
here (floors.md §7), and it comes from the package registry as a dependency.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from executor.environments import settings as env_settings
from executor.environments.index import InspectFailed, inspect_report
from executor.environments.model import (
    DEFAULT_ENV,
    Environment,
    EnvironmentChangeFailed,
    EnvSettings,
)
from executor.environments.wheels import RUNTIME_DISTRIBUTION, build_runtime_wheel
from executor.layout import StateLayout
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.runtime import SandboxRuntime
from protocol.messages import ActionInfo

ProgressT = Callable[[str], None]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class EnvRecord:
    name: str
    python: str
    requirements: list[str] = field(default_factory=list)
    #: Action names this environment wins when another one provides them too.
    preferred: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    #: How its hosts run (``EnvSettings.to_dict()``); ``env set`` changes it.
    settings: dict[str, Any] = field(default_factory=dict)


def _uv() -> str:
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


_BUILD_ID = re.compile(r"^(?P<env>.+)-(?P<id>[0-9a-f]{12})$")


def version_of(build_dir_name: str) -> str | None:
    """The environment a build directory (``<env>-<12 hex>``) belongs to."""
    match = _BUILD_ID.match(build_dir_name)
    return match["env"] if match else None


def resolve_python(python: str | None) -> str:
    """An absolute interpreter path: as given, found on PATH, or the executor's own."""
    if not python:
        return default_python()
    if os.sep in python:
        return os.path.abspath(python)
    found = shutil.which(python)
    if not found:
        raise EnvironmentChangeFailed(f"no interpreter {python!r} on PATH; give its absolute path")
    return os.path.realpath(found)


def default_python() -> str:
    """The interpreter new environments use: the executor's own base interpreter."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return os.path.realpath(base)


def requirement_name(spec: str) -> str | None:
    """A distribution-ish name for a requirement, a path or a wheel (for env names)."""
    spec = spec.strip()
    if spec.endswith(".whl"):
        return os.path.basename(spec).split("-")[0].replace("_", "-").lower()
    if os.sep in spec or spec.startswith("."):
        return os.path.basename(os.path.normpath(spec)).lower() or None
    match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    return match.group(1).lower() if match else None


def expand_specs(specs: Sequence[str]) -> list[str]:
    """Pip-style specs made stable: local paths absolute, ``-r`` files read in."""
    out: list[str] = []
    items = list(specs)
    while items:
        spec = items.pop(0)
        if spec in ("-r", "--requirement"):
            if not items:
                raise EnvironmentChangeFailed("-r needs a requirements file")
            spec = "-r" + items.pop(0)
        if spec.startswith("-r"):
            path = spec[2:].strip()
            try:
                with open(path, encoding="utf-8") as f:
                    lines = [ln.split("#")[0].strip() for ln in f]
            except OSError as exc:
                raise EnvironmentChangeFailed(
                    f"cannot read requirements file {path}: {exc}"
                ) from None
            base = os.path.dirname(os.path.abspath(path))
            items = [
                os.path.join(base, ln) if ln.startswith(".") else ln for ln in lines if ln
            ] + items
            continue
        if os.path.exists(spec):
            spec = os.path.abspath(spec)
        out.append(spec)
    return out


class EnvironmentStore:
    def __init__(
        self,
        state_dir: str,
        *,
        uv_args: Sequence[str] = (),
        progress: ProgressT | None = None,
        config_files: Sequence[str] = (),
        runtime: SandboxRuntime | None = None,
        policy: SandboxPolicy | None = None,
    ) -> None:
        """``config_files``: the executor's host config files, which the check of a
        new build (``action-host --inspect``) loads like every host does; it runs
        sandboxed by ``runtime`` (or one of its own) under ``policy``."""
        layout = StateLayout(state_dir)
        self.layout = layout
        self.runtime = runtime
        self.policy = policy
        self.config_files = tuple(config_files)
        self.root = layout.envs
        self.versions = layout.env_versions
        self.locks = layout.env_locks
        self.cache_dir = layout.cache
        self.wheel_dir = layout.wheels
        self.uv_args = list(uv_args)
        self.progress = progress or (lambda message: None)

    def _ensure_dirs(self) -> None:
        for path in (self.root, self.versions, self.locks):
            os.makedirs(path, exist_ok=True)

    # -- reading -------------------------------------------------------------

    def names(self) -> list[str]:
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(n[:-5] for n in entries if n.endswith(".json"))

    def record(self, name: str) -> EnvRecord:
        try:
            with open(self._record_path(name), encoding="utf-8") as f:
                return EnvRecord(**json.load(f))
        except FileNotFoundError:
            raise EnvironmentChangeFailed(
                f"no environment named {name!r}; 'action-executor env list' shows them, "
                f"'action-executor env create {name}' makes it"
            ) from None

    def environment(self, name: str) -> Environment:
        path = os.path.join(self.root, name)
        try:
            settings = EnvSettings.from_dict(self.record(name).settings)
        except (EnvironmentChangeFailed, ValueError, TypeError):
            settings = EnvSettings()
        return Environment(name, os.path.join(path, "bin", "python"), path=path, settings=settings)

    def environments(self) -> list[Environment]:
        return [
            self.environment(n) for n in self.names() if os.path.exists(os.path.join(self.root, n))
        ]

    def generation(self) -> int:
        """Changes whenever an environment is swapped, added or removed, or its
        record (settings, preferences) is rewritten.

        Every change writes a new random token (``_bump``): a directory's
        mtime alone misses changes within one tick of the file system's clock,
        and a replaced file may get the inode number its predecessor freed.
        """
        try:
            mtime = os.stat(self.root).st_mtime_ns
        except FileNotFoundError:
            return 0
        try:
            with open(os.path.join(self.root, ".generation"), encoding="utf-8") as f:
                token = f.read()
        except FileNotFoundError:
            token = ""
        return hash((mtime, token))

    def _bump(self) -> None:
        os.makedirs(self.root, exist_ok=True)
        tmp = os.path.join(self.root, f".generation.{uuid.uuid4().hex}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(uuid.uuid4().hex)
        os.replace(tmp, os.path.join(self.root, ".generation"))

    def size(self, name: str) -> int:
        total = 0
        for folder, _dirs, files in os.walk(os.path.realpath(os.path.join(self.root, name))):
            for filename in files:
                try:
                    total += os.lstat(os.path.join(folder, filename)).st_size
                except OSError:
                    pass
        return total

    def packages(self, name: str) -> list[tuple[str, str]]:
        env = self.environment(name)
        proc = subprocess.run(
            [_uv(), "pip", "list", "--python", env.python, "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise EnvironmentChangeFailed(f"cannot list packages of {name}: {proc.stderr.strip()}")
        return [(p["name"], p["version"]) for p in json.loads(proc.stdout)]

    # -- changing ------------------------------------------------------------

    def create(self, name: str, python: str | None = None) -> EnvRecord:
        self._check_name(name)
        with self._locked(name):
            if os.path.exists(self._record_path(name)):
                raise EnvironmentChangeFailed(
                    f"environment {name!r} already exists; use 'action-executor install "
                    f"--env {name} ...' to add packages or 'env remove {name}' first"
                )
            record = EnvRecord(name, resolve_python(python))
            self._rebuild(record, [], check=lambda infos: None)
            return record

    def install(
        self,
        name: str,
        specs: Sequence[str],
        *,
        upgrade: bool = False,
        prefer: bool = False,
        check_clashes: Callable[[str, list[ActionInfo], bool], list[str]] | None = None,
        python: str | None = None,
        strict: bool = False,
    ) -> tuple[EnvRecord, list[ActionInfo]]:
        """Add ``specs`` (or upgrade) and swap the result in; refuses name clashes.

        ``check_clashes(env_name, new_actions, prefer)`` returns the action
        names this environment now wins (for ``prefer``) or raises. ``strict``
        refuses a build with any discovery notice: no action registered, all
        broken, entry points in a misspelt group, unsupported providers.
        """
        self._check_name(name)
        new_specs = expand_specs(specs)
        with self._locked(name):
            exists = os.path.exists(self._record_path(name))
            record = (
                self.record(name)
                if exists
                else EnvRecord(name, os.path.abspath(python) if python else default_python())
            )
            requirements = list(record.requirements)
            for spec in new_specs:
                if spec not in requirements:
                    requirements.append(spec)
            record.requirements = requirements
            preferred: list[str] = []

            def check(infos: list[ActionInfo]) -> None:
                nonlocal preferred
                if check_clashes is not None:
                    preferred = check_clashes(name, infos, prefer)

            infos = self._rebuild(
                record,
                new_specs if upgrade else [],
                check=check,
                upgrade=upgrade,
                strict=strict,
                report_notices=True,
            )
            if prefer:
                record.preferred = sorted(set(record.preferred) | set(preferred))
                self._write_record(record)
            return record, infos

    def remove(self, name: str) -> None:
        with self._locked(name):
            self.record(name)  # raises a clear error when it does not exist
            link = os.path.join(self.root, name)
            target = os.path.realpath(link) if os.path.islink(link) else None
            for path in (link, self._record_path(name)):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            if target:
                shutil.rmtree(target, ignore_errors=True)
            self._collect_garbage(name)
            self._bump()

    def set_settings(
        self, name: str, assignments: Sequence[str], unset: Sequence[str] = ()
    ) -> EnvSettings:
        """Change an environment's settings (``env set``) without rebuilding it.

        Saving the record bumps the store's generation: executors then stop the
        environment's template and re-inspect it with the new settings.
        """
        if name == DEFAULT_ENV:
            raise EnvironmentChangeFailed(
                "the default environment's settings come from the executor's "
                "configuration ([action_executor] limits, host_config_files, "
                "preimport_modules, host_path, host_environ, strict_serialization)"
            )
        result: list[EnvSettings] = []

        def change(record: EnvRecord) -> None:
            try:
                new = env_settings.apply(EnvSettings.from_dict(record.settings), assignments, unset)
            except env_settings.SettingsError as exc:
                raise EnvironmentChangeFailed(
                    f"env set {name}: {exc}; nothing was changed"
                ) from None
            record.settings = new.to_dict()
            result.append(new)

        self._update_record(name, change)
        return result[0]

    def set_preferred(self, name: str, actions: Sequence[str], add: bool) -> None:
        def change(record: EnvRecord) -> None:
            names = set(record.preferred)
            names = names | set(actions) if add else names - set(actions)
            record.preferred = sorted(names)

        self._update_record(name, change)

    def _update_record(
        self, name: str, change: Callable[[EnvRecord], None], new: EnvRecord | None = None
    ) -> EnvRecord:
        """Read-modify-write of a record under the records lock (``new`` if absent)."""
        with self._lock_file("records"):
            try:
                record = self.record(name)
            except EnvironmentChangeFailed:
                if new is None:
                    raise
                record = new
            change(record)
            self._write_record(record)
            return record

    # -- internals -----------------------------------------------------------

    def _check_name(self, name: str) -> None:
        if name == DEFAULT_ENV or not _NAME.match(name):
            raise EnvironmentChangeFailed(
                f"invalid environment name {name!r}: use letters, digits, '.', '_' or '-' "
                f"(and not {DEFAULT_ENV!r}, the executor's own environment); pass "
                "--env NAME to choose one"
            )

    def _record_path(self, name: str) -> str:
        return os.path.join(self.root, f"{name}.json")

    def _write_record(self, record: EnvRecord) -> None:
        record.updated = time.time()
        tmp = f"{self._record_path(record.name)}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(asdict(record), f, indent=2)
        os.replace(tmp, self._record_path(record.name))
        self._bump()

    def _locked(self, name: str) -> contextlib.AbstractContextManager[None]:
        return self._lock_file(f"env-{name}")

    @contextmanager
    def _lock_file(self, name: str) -> Iterator[None]:
        self._ensure_dirs()
        with open(os.path.join(self.locks, f"{name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _collect_garbage(self, name: str) -> None:
        """Remove builds of ``name`` (and only of ``name``) the symlink does not point at."""
        link = os.path.join(self.root, name)
        current = os.path.realpath(link) if os.path.islink(link) else None
        for entry in os.listdir(self.versions):
            path = os.path.join(self.versions, entry)
            if version_of(entry) == name and path != current:
                shutil.rmtree(path, ignore_errors=True)

    def _run(self, command: list[str], what: str) -> None:
        self.progress(f"{what}: {' '.join(command[1:4])} ...")
        started = time.monotonic()
        proc = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            raise EnvironmentChangeFailed(
                f"{what} failed (exit code {proc.returncode}); the environment is unchanged.\n"
                f"{proc.stdout.strip()[-3000:]}"
            )
        self.progress(f"{what}: done in {time.monotonic() - started:.1f} s")

    def _rebuild(
        self,
        record: EnvRecord,
        upgrade_specs: Sequence[str],
        *,
        check: Callable[[list[ActionInfo]], None],
        upgrade: bool = False,
        strict: bool = False,
        report_notices: bool = False,
    ) -> list[ActionInfo]:
        self._collect_garbage(record.name)  # leftovers of interrupted builds
        if not os.path.exists(record.python):
            raise EnvironmentChangeFailed(f"interpreter {record.python} does not exist")
        version_dir = os.path.join(self.versions, f"{record.name}-{uuid.uuid4().hex[:12]}")
        uv = _uv()
        try:
            self.progress(f"building environment {record.name!r} in {version_dir}")
            self._run(
                [uv, "venv", "--quiet", "--python", record.python, version_dir],
                "creating the virtualenv",
            )
            runtime = build_runtime_wheel(self.wheel_dir)
            command = [
                uv,
                "pip",
                "install",
                "--python",
                os.path.join(version_dir, "bin", "python"),
                *self.uv_args,
                runtime,
                *record.requirements,
            ]
            if upgrade:
                command += (
                    ["--upgrade"]
                    if not upgrade_specs
                    else [
                        arg
                        for spec in upgrade_specs
                        for arg in ("--upgrade-package", requirement_name(spec) or spec)
                    ]
                )
            n = len(record.requirements)
            self._run(command, f"installing the runtime and {n} requirement(s) with uv")
            env = Environment(
                record.name,
                os.path.join(version_dir, "bin", "python"),
                path=version_dir,
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
            check(infos)
            self._swap(record, version_dir)
        except BaseException:
            shutil.rmtree(version_dir, ignore_errors=True)
            raise
        self._collect_garbage(record.name)
        self.progress(
            f"environment {record.name!r} ready: {len([i for i in infos if not i.error])} action(s)"
            + (
                f", {len([i for i in infos if i.error])} broken"
                if any(i.error for i in infos)
                else ""
            )
        )
        return infos

    def _swap(self, record: EnvRecord, version_dir: str) -> None:
        """Point ``<name>`` at the new build in one atomic rename, then save the record."""
        link = os.path.join(self.root, record.name)
        tmp_link = f"{link}.{uuid.uuid4().hex}.tmp"
        os.symlink(os.path.relpath(version_dir, self.root), tmp_link)
        os.replace(tmp_link, link)

        def change(current: EnvRecord) -> None:  # keep what others changed meanwhile
            current.python = record.python
            current.requirements = list(record.requirements)

        self._update_record(record.name, change, new=record)


__all__ = [
    "EnvRecord",
    "EnvironmentChangeFailed",
    "EnvironmentStore",
    "default_python",
    "expand_specs",
    "requirement_name",
    "resolve_python",
    "version_of",
]
