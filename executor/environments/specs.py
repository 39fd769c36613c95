"""What an environment change names: requirement specs and interpreters,
made stable before they are stored (paths absolute, ``-r`` files read in)."""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Sequence

from executor.environments.model import EnvironmentChangeFailed


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
