"""Which uids and gids the actions of this executor run as.

An executor *leases* one block of ids machine-wide, so two executors on one
machine never share an id (one's processes could otherwise starve, signal
or read the other's). A lease is an ``flock`` on a file per block under
``/run/lock/mistral-action-host``; the kernel drops it when the executor
dies, so a crashed executor never keeps its block.

Inside its block the executor gives every template (and every spawned host)
a *slice* of its own: the slice's first id is the template itself, the rest
are its children's, one per live child. So no two processes of different
templates ever share an id either.

Where the ids come from depends on the executor's rights (``IdSource``):
``write`` (CAP_SETUID and CAP_SETGID, e.g. root): any block from
``uid_range``; ``newuidmap``: the service user's subordinate ids in
/etc/subuid and /etc/subgid; ``self``: only the executor's own id (no
per-action identity; see docs/security.md).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import stat
import threading
from dataclasses import dataclass

from executor.errors import ErrorKind, ExecutorError

LOCK_DIR = "/run/lock/mistral-action-host"
#: Blocks tried from ``uid_range``'s first id on (root and capabilities).
BLOCKS_TRIED = 64


class NoIdsLeft(ExecutorError, RuntimeError):
    """Every block is leased by other executors, or a slice cannot be had."""

    kind = ErrorKind.HOST_START_FAILED


@dataclass(frozen=True)
class IdSource:
    """How this process may map ids into a user namespace."""

    writer: str  # "write", "newuidmap" or "self"
    #: (first uid, first gid, count) blocks this user may use, in order
    ranges: tuple[tuple[int, int, int], ...] = ()
    reason: str = ""


def _capabilities() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


CAP_SETGID, CAP_SETUID = 6, 7


def has_capability(cap: int) -> bool:
    return bool(_capabilities() & (1 << cap))


def _subordinate(path: str, user: str, uid: int) -> list[tuple[int, int]]:
    found = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(":")
                if len(parts) == 3 and parts[0] in (user, str(uid)):
                    found.append((int(parts[1]), int(parts[2])))
    except (OSError, ValueError):
        pass
    return found


def _mapped(path: str) -> list[tuple[int, int]]:
    """The ids of our own user namespace (first, count), from /proc/self/*_map."""
    found = []
    try:
        with open(path) as f:
            for line in f:
                inside, _outside, count = (int(n) for n in line.split())
                found.append((inside, count))
    except (OSError, ValueError):
        pass
    return found


def _covered(first: int, count: int, mapped: list[tuple[int, int]]) -> bool:
    return any(a <= first and first + count <= a + n for a, n in mapped)


def id_source(first: int, count: int) -> IdSource:
    """What this process can map: see the module docstring."""
    if has_capability(CAP_SETUID) and has_capability(CAP_SETGID):
        uids, gids = _mapped("/proc/self/uid_map"), _mapped("/proc/self/gid_map")
        ranges = tuple(
            (start, start, count)
            for start in (first + k * count for k in range(BLOCKS_TRIED))
            if _covered(start, count, uids) and _covered(start, count, gids)
        )
        if ranges:
            return IdSource("write", ranges, "CAP_SETUID and CAP_SETGID")
    uid = os.geteuid()
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    subuids = _subordinate("/etc/subuid", user, uid)
    subgids = _subordinate("/etc/subgid", user, uid)
    tools = shutil.which("newuidmap") and shutil.which("newgidmap")
    if subuids and subgids and tools:
        blocks: list[tuple[int, int, int]] = []
        for (u, ucount), (g, gcount) in zip(subuids, subgids, strict=False):
            n = min(ucount, gcount)
            size = min(count, n)
            blocks += [(u + i, g + i, size) for i in range(0, n - size + 1, size)]
        return IdSource("newuidmap", tuple(blocks), f"subordinate ids of {user}")
    why = []
    if not (subuids and subgids):
        why.append(f"no subordinate ids for {user} in /etc/subuid and /etc/subgid")
    if not tools:
        why.append("newuidmap/newgidmap not installed (Debian package uidmap)")
    return IdSource("self", (), "; ".join(why) or "no CAP_SETUID/CAP_SETGID")


class Lease:
    """A leased block: ``uid``/``gid`` its first ids, ``count`` ids long."""

    def __init__(self, uid: int, gid: int, count: int, fd: int | None) -> None:
        self.uid, self.gid, self.count = uid, gid, count
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the flock goes with it
            self._fd = None


def lease(source: IdSource, lock_dir: str = LOCK_DIR) -> Lease:
    """The first block of ``source`` no other executor holds."""
    if source.writer == "self":
        return Lease(os.geteuid(), os.getegid(), 1, None)
    _ensure_lock_dir(lock_dir)
    for uid, gid, count in source.ranges:
        fd = _lock_file(os.path.join(lock_dir, f"ids-{uid}-{count}.lock"))
        if fd is not None:
            return Lease(uid, gid, count, fd)
    raise NoIdsLeft(
        f"every block of ids this executor may use ({len(source.ranges)}, from "
        f"{source.reason}) is leased by another executor on this machine; give it "
        "its own range with [sandbox] uid_range_first"
    )


def _trusted(st: os.stat_result) -> bool:
    """Ours or root's: another user's file or directory could be swapped under us."""
    return st.st_uid in (0, os.geteuid())


def _lock_file(path: str) -> int | None:
    """A descriptor holding the block's lock, or None when another executor
    holds it (or the file is not one we may trust)."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError:  # a symlink, or another user's file we may not open
            return None
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _trusted(st):
            os.close(fd)
            if os.geteuid() != 0:
                return None
            try:  # root takes the name back from whoever made the file
                os.unlink(path)
            except OSError:
                return None
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            now = os.stat(path, follow_symlinks=False)
        except OSError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino):
            return fd  # still the file others will lock
        os.close(fd)  # unlinked meanwhile: lock the new one
    return None


def _ensure_lock_dir(lock_dir: str) -> None:
    """Shared by every executor of the machine, whatever its user: sticky and
    world-writable like /run/lock itself, and root's (or ours): a directory
    another user made could hold anything."""
    try:
        os.makedirs(lock_dir, exist_ok=True)
    except PermissionError:
        raise NoIdsLeft(
            f"cannot create {lock_dir} for the id leases: create it as root "
            f"(install -d -m 1777 {lock_dir}), or run the executor as root once"
        ) from None
    st = os.lstat(lock_dir)
    if not stat.S_ISDIR(st.st_mode) or not _trusted(st):
        if os.geteuid() == 0 and stat.S_ISDIR(st.st_mode):
            os.chown(lock_dir, 0, 0, follow_symlinks=False)
        else:
            raise NoIdsLeft(
                f"{lock_dir} belongs to uid {st.st_uid}, not to root or this executor: "
                "another user could swap the lease files; remove it as root"
            )
    if stat.S_IMODE(st.st_mode) != 0o1777 and st.st_uid == os.geteuid():
        os.chmod(lock_dir, 0o1777)


class Slices:
    """First-fit slices of one lease: ids 1..count of the outer namespace."""

    def __init__(self, count: int) -> None:
        self._count = count
        self._taken: dict[int, int] = {}  # start -> size
        self._lock = threading.Lock()

    def take(self, size: int) -> int:
        """The start of a free slice of ``size`` ids (outer ids, from 1)."""
        with self._lock:
            start = 1
            for taken, length in sorted(self._taken.items()):
                if taken - start >= size:
                    break
                start = max(start, taken + length)
            if start + size - 1 > self._count:
                raise NoIdsLeft(
                    f"no {size} free ids left in this executor's block of {self._count} "
                    f"({len(self._taken)} templates and hosts hold them); raise "
                    "[sandbox] uid_range_count or lower uids_per_template"
                )
            self._taken[start] = size
            return start

    def give_back(self, start: int) -> None:
        with self._lock:
            self._taken.pop(start, None)
