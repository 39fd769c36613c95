"""Building wheels without a build backend: the runtime, and small test packages.

Every environment gets the host runtime of the executor's own version. It is
not fetched from anywhere: the executor writes it as a wheel from its own
installed packages (``protocol``, ``action_host``, ``actions_api``,
``std_actions``), so it works offline and is exactly what the executor
speaks. Its dependencies are pinned to the versions the executor runs with,
for each interpreter those versions support (Python 3.10 to 3.13); see
``_pinned``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import importlib.util
import io
import os
import re
import zipfile
from collections.abc import Mapping, Sequence

from protocol import RUNTIME_VERSION

RUNTIME_DISTRIBUTION = "mistral-action-host"
RUNTIME_PACKAGES = ("protocol", "action_host", "actions_api", "std_actions")
#: What the host runtime imports: msgpack, and pydantic (``--inspect``'s
#: models). Not jsonrpcserver: only the executor's ``protocol.handlers`` uses
#: it, and a host answers with ``protocol.plain``. Not stevedore: discovery
#: reads entry points with importlib.metadata; plugins that use it bring their own.
RUNTIME_REQUIRES = ("msgpack", "pydantic")
#: Interpreters an environment may use (``env create --python``).
SUPPORTED_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def build_wheel(
    dest_dir: str,
    name: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    requires: Sequence[str] = (),
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    summary: str = "",
) -> str:
    """Write a pure-Python wheel holding ``files`` (archive path -> bytes)."""
    dist = f"{_normalize(name)}-{version}"
    info = f"{dist}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if summary:
        metadata.append(f"Summary: {summary}")
    metadata += [f"Requires-Dist: {req}" for req in requires]
    contents = dict(files)
    contents[f"{info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: mistral-action-host\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    if entry_points:
        lines = []
        for group, points in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{key} = {target}" for key, target in points.items()]
            lines.append("")
        contents[f"{info}/entry_points.txt"] = "\n".join(lines).encode()
    os.makedirs(dest_dir, exist_ok=True)
    path = os.path.join(dest_dir, f"{dist}-py3-none-any.whl")
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    tmp = f"{path}.{os.getpid()}.tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as wheel:
        for arcname in sorted(contents):
            data = contents[arcname]
            wheel.writestr(arcname, data)
            writer.writerow([arcname, _record_hash(data), len(data)])
        writer.writerow([f"{info}/RECORD", "", ""])
        wheel.writestr(f"{info}/RECORD", record.getvalue())
    os.replace(tmp, path)
    return path


def _package_files(package: str) -> dict[str, bytes]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"cannot find the {package!r} package of the executor's runtime")
    root = list(spec.submodule_search_locations)[0]
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for filename in names:
            if filename.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(folder, filename)
            arcname = os.path.join(package, os.path.relpath(full, root)).replace(os.sep, "/")
            with open(full, "rb") as f:
                files[arcname] = f.read()
    return files


def _pinned(requirement: str) -> list[str]:
    """The executor's own version of ``requirement``, for every interpreter that
    version supports; older supported interpreters get the newest release that
    installs there (an environment marker keeps the wheel one file for all)."""
    try:
        dist = importlib.metadata.distribution(requirement)
    except importlib.metadata.PackageNotFoundError:
        return [requirement]
    pin = f"{requirement}=={dist.version}"
    requires_python = str(dist.metadata.json.get("requires_python") or "")
    if not requires_python:
        return [pin]
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return [pin]
    ok = [v for v in SUPPORTED_PYTHONS if spec.contains(f"{v}.0")]
    if len(ok) == len(SUPPORTED_PYTHONS) or not ok:
        return [pin]
    first = ok[0]
    return [
        f'{pin}; python_version >= "{first}"',
        f'{requirement}; python_version < "{first}"',
    ]


def runtime_entry_points() -> dict[str, dict[str, str]]:
    """The std actions and the ``action-host`` script, as the executor has them."""
    points: dict[str, dict[str, str]] = {"console_scripts": {"action-host": "action_host.cli:main"}}
    eps: list[importlib.metadata.EntryPoint]
    try:
        eps = list(importlib.metadata.distribution(RUNTIME_DISTRIBUTION).entry_points)
    except importlib.metadata.PackageNotFoundError:
        eps = []
    std = {ep.name: ep.value for ep in eps if ep.group == "mistral.actions"}
    if std:
        points["mistral.actions"] = std
    return points


def build_runtime_wheel(dest_dir: str) -> str:
    """The host runtime of this executor's version, as a wheel in ``dest_dir`` (cached)."""
    files: dict[str, bytes] = {}
    for package in RUNTIME_PACKAGES:
        files.update(_package_files(package))
    requires = [req for r in RUNTIME_REQUIRES for req in _pinned(r)]
    digest = hashlib.sha256()
    for arcname in sorted(files):
        digest.update(arcname.encode())
        digest.update(files[arcname])
    digest.update("\n".join(requires).encode())  # new requirements: a new wheel
    # The local version label makes a changed runtime a different wheel.
    version = f"{RUNTIME_VERSION}+rt{digest.hexdigest()[:12]}"
    path = os.path.join(dest_dir, f"{_normalize(RUNTIME_DISTRIBUTION)}-{version}-py3-none-any.whl")
    if os.path.exists(path):
        return path
    return build_wheel(
        dest_dir,
        RUNTIME_DISTRIBUTION,
        version,
        files,
        requires=requires,
        entry_points=runtime_entry_points(),
        summary="mistral-action-host runtime (action host, actions API, protocol)",
    )
