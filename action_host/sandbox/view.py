"""The file system a template and its children see, built once per template.

Its own mount namespace: the system read-only; the files the plan names
(the service's configuration) showing empty; the directories it names (the
state directory, homes, /run, the shared temporary directories, logs and
mail) hidden behind empty read-only tmpfs mounts; and the environment's own
directories that live under a hidden one shown again, read-only, at the same
paths. Built in the outer user namespace (``userns``), then locked by the
inner one.
"""

from __future__ import annotations

import os

from protocol.launch_plan import ViewPlan

from . import _sys


def under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def build(plan: ViewPlan) -> None:
    """Make the view in a new mount namespace of the calling process."""
    hidden: list[str] = []
    hidden_files: list[str] = []
    for path in sorted({os.path.realpath(p) for p in plan.hide}, key=len):
        if any(under(path, h) for h in hidden):
            continue
        if os.path.isdir(path):
            hidden.append(path)
        elif os.path.isfile(path):
            hidden_files.append(path)  # a config file: /dev/null over it
    _sys.unshare(_sys.CLONE_NEWNS)
    _sys.mount(None, "/", None, _sys.MS_REC | _sys.MS_PRIVATE)
    # opened in the new namespace: a bind's source must be a mount of the caller's
    sources = {}
    for path in plan.expose:
        if any(under(path, h) for h in hidden) and os.path.exists(path):
            sources[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
    aliases = {}
    for alias, real in plan.aliases:
        if os.path.exists(real):
            aliases[alias] = os.open(real, os.O_PATH | os.O_CLOEXEC)
    for path in hidden:
        _sys.mount("tmpfs", path, "tmpfs", _sys.MS_NOSUID | _sys.MS_NODEV, "mode=0755,size=64k")
    for path in hidden_files:
        _sys.mount("/dev/null", path, None, _sys.MS_BIND)
    for path, fd in (*sources.items(), *aliases.items()):
        if not _same_file(path, fd):  # else shown already (a shown directory holds it)
            bind(fd, path)
        os.close(fd)
    _sys.mount_setattr("/", True, _sys.MOUNT_ATTR_RDONLY | _sys.MOUNT_ATTR_NOSUID)
    # /proc stays as writable as it was (its files check their own rights): a
    # nested user namespace's maps are written there.
    _sys.mount_setattr("/proc", False, 0, _sys.MOUNT_ATTR_RDONLY)


def _same_file(path: str, fd: int) -> bool:
    try:
        here, there = os.stat(path), os.fstat(fd)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def bind(fd: int, path: str) -> None:
    """Bind the file or directory open as ``fd`` (O_PATH) onto ``path``,
    creating the mount point when missing (never opening what is there: it
    may be a symlink to somewhere this process may not write)."""
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    elif not os.path.lexists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o644))
    _sys.mount(f"/proc/self/fd/{fd}", path, None, _sys.MS_BIND | _sys.MS_REC)
