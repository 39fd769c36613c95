"""Environments: an interpreter (usually a virtualenv's) that provides actions.

The executor's own interpreter is the ``default`` environment and provides
the std actions. Hosts always run under their environment's interpreter,
called by absolute path (a pyenv shim would cost 0.1 s per start).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from executor.errors import ErrorKind, ExecutorError

DEFAULT_ENV = "default"

#: Resource limit names (``setrlimit``), as in ``ExecutorConfig.limits``.
LIMIT_NAMES = ("address_space", "cpu_seconds", "open_files", "processes", "file_size")
#: A limit of this value lifts the executor's default for the environment.
UNLIMITED = -1


class EnvironmentChangeFailed(ExecutorError):
    """An environment change (create, install, upgrade, remove, ``env set``) was
    refused or failed, and the environment is as it was; the message says what
    to do. Its kind is the one a run would meet for the environments' state,
    though runs only read environments and the reads that can meet it catch it."""

    kind = ErrorKind.CATALOG_UNAVAILABLE


class EnvironmentRequestInvalid(EnvironmentChangeFailed):
    """The request itself is wrong, not the environment: no environment of
    that name, a setting that does not exist or a value it cannot take, the
    default environment's settings. Commands exit 2 for it (a usage error)."""


@dataclass(frozen=True)
class EnvSettings:
    """How hosts of one environment run; stored with its record, changed with
    ``action-executor env set`` without a rebuild (its template restarts).

    The default environment takes these from ``ExecutorConfig`` instead.
    """

    #: Directories put on PATH after the environment's own ``bin`` (always first).
    path: tuple[str, ...] = ()
    #: Environment variables of the hosts (PATH, HOME and TMPDIR are the sandbox's).
    environ: Mapping[str, str] = field(default_factory=dict)
    #: Resource limits overriding ``ExecutorConfig.limits`` (``UNLIMITED`` lifts one).
    limits: Mapping[str, int] = field(default_factory=dict)
    #: Modules the host imports before the actions (``mistral.db.v2.api``).
    preimport: tuple[str, ...] = ()
    #: An oslo.config file loaded into ``cfg.CONF`` after the executor's own.
    config_file: str | None = None
    #: Refuse non-plain results instead of converting them like Mistral (None:
    #: the executor's ``strict_serialization``).
    strict_serialization: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"], data["preimport"] = list(self.path), list(self.preimport)
        data["environ"], data["limits"] = dict(self.environ), dict(self.limits)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EnvSettings:
        data = dict(data or {})
        return cls(
            path=tuple(data.get("path") or ()),
            environ=dict(data.get("environ") or {}),
            limits={k: int(v) for k, v in (data.get("limits") or {}).items()},
            preimport=tuple(data.get("preimport") or ()),
            config_file=data.get("config_file"),
            strict_serialization=data.get("strict_serialization"),
        )

    def key(self) -> str:
        """Changes whenever a setting does (hosts started before must go)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Environment:
    name: str
    python: str
    #: Extra import paths for hosts of this environment (PYTHONPATH).
    extra_paths: tuple[str, ...] = field(default_factory=tuple)
    #: Directory of the virtualenv, when it is one we manage.
    path: str | None = None
    #: How its hosts run (PATH, variables, limits, imports, config file).
    settings: EnvSettings = field(default_factory=EnvSettings, compare=False, hash=False)

    def target(self) -> str:
        """Where the environment really is now (a managed one is a symlink to a build)."""
        return os.path.realpath(self.path) if self.path else self.python

    def bin_dir(self) -> str:
        """The environment's own ``bin`` (first on its hosts' PATH): of the build
        the symlink points at now, which a host keeps running even when the
        symlink moves on, and which a sandbox hiding the state directory exposes."""
        if self.path:
            return os.path.join(self.target(), "bin")
        return os.path.dirname(self.python)

    def search_path(self, base: str) -> str:
        """PATH of its hosts: its ``bin``, the extra directories, then ``base``."""
        parts = [self.bin_dir(), *self.settings.path, *base.split(os.pathsep)]
        seen: list[str] = []
        for part in parts:
            if part and part not in seen:
                seen.append(part)
        return os.pathsep.join(seen)

    def host_limits(self, defaults: Mapping[str, int]) -> dict[str, int]:
        """The executor's limits with this environment's overrides."""
        merged = {**defaults, **self.settings.limits}
        return {k: v for k, v in merged.items() if v != UNLIMITED}

    def host_arguments(
        self, config_files: tuple[str, ...] = (), strict_serialization: bool = False
    ) -> list[str]:
        """``action-host`` options carrying the settings (any mode: inspect, serve,
        template): config files (the executor's, then the environment's), modules
        to import first, strict serialization."""
        args: list[str] = []
        files = list(config_files)
        if self.settings.config_file:
            files.append(self.settings.config_file)
        for path in files:
            args += ["--config-file", path]
        for module in self.settings.preimport:
            args += ["--import", module]
        strict = self.settings.strict_serialization
        if strict if strict is not None else strict_serialization:
            args.append("--strict-serialization")
        return args

    def site_dirs(self) -> list[str]:
        """Where this environment's distributions live (for change detection)."""
        if self.path:
            dirs = glob.glob(os.path.join(self.path, "lib", "python*", "site-packages"))
        else:
            import site

            dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
            if self.python != sys.executable:
                dirs = []
        return sorted(dirs) + list(self.extra_paths)

    def fingerprint(self) -> str:
        """Changes whenever a distribution is added, removed or re-installed, or a
        setting that changes what the host imports does."""
        digest = hashlib.sha256(self.python.encode())
        digest.update(self.settings.key().encode())
        for directory in self.site_dirs():
            digest.update(directory.encode())
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                if entry.name.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")):
                    digest.update(entry.name.encode())
                    ep = os.path.join(entry.path, "entry_points.txt")
                    for path in (entry.path, ep):
                        try:
                            digest.update(str(os.stat(path).st_mtime_ns).encode())
                        except OSError:
                            pass
        return digest.hexdigest()[:16]


@dataclass
class EnvRecord:
    """A named environment as its ``<name>.json`` keeps it (``EnvironmentStore``)."""

    name: str
    python: str
    requirements: list[str] = field(default_factory=list)
    #: Action names this environment wins when another one provides them too.
    preferred: list[str] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    #: How its hosts run (``EnvSettings.to_dict()``); ``env set`` changes it.
    settings: dict[str, Any] = field(default_factory=dict)


def default_environment(
    extra_paths: tuple[str, ...] = (), settings: EnvSettings | None = None
) -> Environment:
    return Environment(
        DEFAULT_ENV, sys.executable, tuple(extra_paths), settings=settings or EnvSettings()
    )
