"""Named plugin environments: virtualenvs built with uv, swapped in atomically.

Layout under ``<state_dir>/envs``::

    <name>            symlink -> .versions/<name>-<id>   (what hosts use)
    <name>.json       the environment's record: python, requirements, preferences
    .versions/<name>-<id>/   one complete virtualenv per build
    .locks/<name>.lock       serialises changes to one environment

Every change (create, install, upgrade) builds a *new* virtualenv from the
environment's whole requirement list (``builds.py``), checks it
(``action-host --inspect`` inside it, name clashes with other environments),
and only then flips the symlink, an atomic rename. A failed, refused or
interrupted change leaves the environment exactly as it was; half-built
versions are removed by the next change. Each environment gets the
executor's own runtime (a locally built wheel, see ``wheels.py``) and never
the executor's site-packages.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict

from executor.environments import settings as env_settings
from executor.environments.builds import (
    ProgressT,
    VersionBuilder,
    find_uv,
    uv_environ,
    version_of,
)
from executor.environments.model import (
    DEFAULT_ENV,
    Environment,
    EnvironmentChangeFailed,
    EnvironmentRequestInvalid,
    EnvRecord,
    EnvSettings,
)
from executor.environments.specs import (
    default_python,
    expand_specs,
    requirement_name,
    resolve_python,
)
from executor.layout import StateLayout
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.runtime import SandboxRuntime
from protocol.messages import ActionInfo

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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
            raise EnvironmentRequestInvalid(
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
            [find_uv(), "pip", "list", "--python", env.python, "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,  # not the caller's: see VersionBuilder._run
            env=uv_environ(self.layout),
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
            raise EnvironmentRequestInvalid(
                "the default environment's settings are the executor's configuration, "
                "not env set's: write them under [action_executor] in a file (limits, "
                "host_config_files, preimport_modules, host_path, host_environ, "
                "strict_serialization; e.g. 'limits = address_space:274877906944') and "
                "pass it with 'action-executor run --config-file FILE' ('serve "
                "--config-file' reads the same options)"
            )
        result: list[EnvSettings] = []

        def change(record: EnvRecord) -> None:
            try:
                new = env_settings.apply(EnvSettings.from_dict(record.settings), assignments, unset)
            except env_settings.SettingsError as exc:
                raise EnvironmentRequestInvalid(
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
        """Build a new version aside, ``check`` its actions, swap it in.

        Anything that fails or is refused on the way (``check`` raising too)
        removes the new version, so the environment stays as it was.
        """
        self._collect_garbage(record.name)  # leftovers of interrupted builds
        builder = VersionBuilder(
            self.layout, self.uv_args, self.progress, self.config_files, self.runtime, self.policy
        )
        build = builder.build(
            record, upgrade_specs, upgrade=upgrade, strict=strict, report_notices=report_notices
        )
        try:
            check(build.infos)
            self._swap(record, build.directory)
        except BaseException:
            build.discard()
            raise
        self._collect_garbage(record.name)
        working = len([i for i in build.infos if not i.error])
        broken = len(build.infos) - working
        self.progress(
            f"environment {record.name!r} ready: {working} action(s)"
            + (f", {broken} broken" if broken else "")
        )
        return build.infos

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
