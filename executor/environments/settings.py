"""``action-executor env set NAME KEY=VALUE``: the keys, their values, their checks.

Keys (all optional; ``--unset KEY`` returns one to its default):

* ``path=DIR[:DIR...]``: directories on the hosts' PATH after the
  environment's own ``bin`` (which always comes first);
* ``env.NAME=VALUE``: an environment variable of the hosts (not PATH, HOME,
  TMPDIR: the sandbox owns them);
* ``limits.NAME=VALUE``: a resource limit overriding the executor's
  (``address_space``, ``cpu_seconds``, ``open_files``, ``processes``,
  ``file_size``); sizes take K, M, G, T suffixes (powers of 1024), and
  ``unlimited`` lifts the executor's limit for this environment;
* ``preimport=MODULE[,MODULE...]``: modules the host imports before the
  actions (``mistral.db.v2.api`` for Mistral's own package);
* ``config_file=PATH``: an oslo.config file loaded into ``cfg.CONF`` after the
  executor's own files, before the actions are imported;
* ``strict_serialization=true|false``: refuse non-plain results instead of
  converting them the way Mistral does.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from typing import Any

from executor.environments.model import LIMIT_NAMES, UNLIMITED, EnvSettings

KEYS = ("path", "env.NAME", "limits.NAME", "preimport", "config_file", "strict_serialization")
_SANDBOX_VARIABLES = ("PATH", "HOME", "TMPDIR")
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class SettingsError(ValueError):
    """A setting that cannot be used; the message says which and why."""


def parse_limit(name: str, text: str) -> int:
    if name not in LIMIT_NAMES:
        raise SettingsError(
            f"unknown limit {name!r}; limits are: {', '.join(LIMIT_NAMES)} "
            "(e.g. limits.address_space=256G)"
        )
    if text.strip().lower() in ("unlimited", "none", "-1"):
        return UNLIMITED
    match = _SIZE.match(text)
    if not match:
        raise SettingsError(
            f"limits.{name}={text!r} is not a whole number (with an optional K, M, G "
            "or T suffix) or 'unlimited'"
        )
    factor: int = 1024 ** " KMGT".index(match[2].upper() or " ")
    return int(match[1]) * factor


def _path(text: str) -> tuple[str, ...]:
    dirs = tuple(p for p in text.split(os.pathsep) if p)
    for directory in dirs:
        if not os.path.isabs(directory):
            raise SettingsError(f"path entry {directory!r} is not an absolute directory")
    return dirs


def _modules(text: str) -> tuple[str, ...]:
    modules = tuple(m.strip() for m in text.split(",") if m.strip())
    for module in modules:
        if not _MODULE.match(module):
            raise SettingsError(f"preimport: {module!r} is not a module name (a.b.c)")
    return modules


def _config_file(text: str) -> str | None:
    if not text:
        return None
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise SettingsError(f"config_file {path} does not exist or cannot be read")
    return path


def _bool(text: str) -> bool | None:
    value = text.strip().lower()
    if value in ("true", "yes", "on", "1"):
        return True
    if value in ("false", "no", "off", "0"):
        return False
    if value in ("", "default"):
        return None
    raise SettingsError(f"strict_serialization={text!r}: use true, false or default")


def _unknown(key: str) -> SettingsError:
    return SettingsError(f"unknown setting {key!r}; settings are: {', '.join(KEYS)}")


def apply(
    settings: EnvSettings, assignments: Sequence[str], unset: Sequence[str] = ()
) -> EnvSettings:
    """``settings`` with ``KEY=VALUE`` assignments and ``unset`` keys applied."""
    changes: dict[str, Any] = {}
    environ = dict(settings.environ)
    limits = dict(settings.limits)
    for key in unset:
        if key.startswith("env."):
            environ.pop(key[4:], None)
        elif key.startswith("limits."):
            limits.pop(key[7:], None)
        elif key in ("path", "preimport", "config_file", "strict_serialization"):
            changes[key] = {"path": (), "preimport": (), "config_file": None}.get(key)
        else:
            raise _unknown(key)
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(
                f"setting {assignment!r} is not KEY=VALUE (e.g. env.HTTP_PROXY=http://proxy:3128, "
                "limits.address_space=256G, preimport=mistral.db.v2.api)"
            )
        if key.startswith("env."):
            name = key[4:]
            if not name or "=" in name:
                raise SettingsError(f"{key!r}: give a variable name, e.g. env.HTTP_PROXY=...")
            if name in _SANDBOX_VARIABLES:
                raise SettingsError(
                    f"{name} belongs to the sandbox"
                    + (": add directories with path=DIR[:DIR...]" if name == "PATH" else "")
                )
            environ[name] = value
        elif key.startswith("limits."):
            limits[key[7:]] = parse_limit(key[7:], value)
        elif key == "path":
            changes["path"] = _path(value)
        elif key in ("preimport", "modules"):
            changes["preimport"] = _modules(value)
        elif key == "config_file":
            changes["config_file"] = _config_file(value)
        elif key == "strict_serialization":
            changes["strict_serialization"] = _bool(value)
        else:
            raise _unknown(key)
    return dataclasses.replace(settings, environ=environ, limits=limits, **changes)


def describe(settings: EnvSettings) -> list[str]:
    """``KEY=VALUE`` lines for ``env show`` (only what is set)."""
    lines = []
    if settings.path:
        lines.append(f"path={os.pathsep.join(settings.path)}")
    lines += [f"env.{k}={v}" for k, v in sorted(settings.environ.items())]
    for name, value in sorted(settings.limits.items()):
        lines.append(f"limits.{name}={'unlimited' if value == UNLIMITED else value}")
    if settings.preimport:
        lines.append(f"preimport={','.join(settings.preimport)}")
    if settings.config_file:
        lines.append(f"config_file={settings.config_file}")
    if settings.strict_serialization is not None:
        lines.append(f"strict_serialization={str(settings.strict_serialization).lower()}")
    return lines
