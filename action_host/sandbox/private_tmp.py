"""A child's own /tmp: a size-limited tmpfs holding its working directory,
its own /dev/shm and terminals, and the environment's directories that live
under /tmp shown again read-only at the same paths."""

from __future__ import annotations

import os

from . import _sys
from .spec import Spec

#: The working directory inside the private /tmp.
WORKDIR = "/tmp/work"


def mount_private_tmp(spec: Spec, uid: int | None) -> str:
    """Mount it in the caller's (new) mount namespace; returns ``WORKDIR``."""
    owner = f",uid={uid},gid={uid}" if uid is not None else ""
    # the environment's directories under /tmp, before the new /tmp covers them
    sources = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in spec.tmp_exposed]
    _sys.mount(
        "tmpfs",
        "/tmp",
        "tmpfs",
        _sys.MS_NOSUID | _sys.MS_NODEV,
        f"mode=0755,size={spec.tmpfs_size}{owner}",
    )
    for path, fd in sources:
        _bind(fd, path)
        os.close(fd)
        _sys.mount_setattr(path, True, _sys.MOUNT_ATTR_RDONLY | _sys.MOUNT_ATTR_NOSUID)
    os.mkdir("/tmp/.shm", 0o1777)
    os.chmod("/tmp/.shm", 0o1777)
    _sys.mount("/tmp/.shm", "/dev/shm", None, _sys.MS_BIND)
    if spec.devpts:
        _own_terminals()
    os.mkdir(WORKDIR, 0o700)
    if uid is not None:
        os.chown(WORKDIR, uid, uid)
    return WORKDIR


def _own_terminals() -> None:
    """Its own devpts: no other action's or the host's /dev/pts/N."""
    _sys.mount(
        "devpts",
        "/dev/pts",
        "devpts",
        _sys.MS_NOSUID | _sys.MS_NOEXEC,
        "newinstance,ptmxmode=0666,mode=0620",
    )
    _sys.mount("/dev/pts/ptmx", "/dev/ptmx", None, _sys.MS_BIND)


def _bind(fd: int, path: str) -> None:
    if os.path.isdir(f"/proc/self/fd/{fd}"):
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass
    _sys.mount(f"/proc/self/fd/{fd}", path, None, _sys.MS_BIND | _sys.MS_REC)
