"""Raw system calls the sandbox needs, through ctypes (x86_64 and aarch64 numbers).

Python 3.11 has no ``os.unshare``/``os.setns``/``mount``; libseccomp and the
``landlock`` package cost tens of milliseconds to import (``find_library``
runs subprocesses), so the few calls are made here directly. Every wrapper
raises ``OSError`` with the errno and the call's name.
"""

from __future__ import annotations

import ctypes
import os
import platform

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

MACHINE = platform.machine()

#: name -> number, per architecture (only what the sandbox calls itself).
_NUMBERS = {
    "x86_64": {
        "unshare": 272,
        "setns": 308,
        "mount_setattr": 442,
        "seccomp": 317,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "bpf": 321,
    },
    "aarch64": {
        "unshare": 97,
        "setns": 268,
        "mount_setattr": 442,
        "seccomp": 277,
        "landlock_create_ruleset": 444,
        "landlock_add_rule": 445,
        "landlock_restrict_self": 446,
        "bpf": 280,
    },
}

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def number(name: str) -> int:
    try:
        return _NUMBERS[MACHINE][name]
    except KeyError:
        raise OSError(38, f"{name}: no syscall number known for {MACHINE}") from None


def syscall(name: str, *args: int | ctypes.c_void_p | ctypes.c_char_p | None) -> int:
    return _check(_syscall(number(name), *args), name)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    result = _libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data))
    _check(result, f"mount {target}")


class MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
AT_FDCWD = -100
AT_RECURSIVE = 0x8000


def mount_setattr(path: str, recursive: bool, attr_set: int, attr_clr: int = 0) -> None:
    """Change mount flags of ``path`` (and every mount below it when ``recursive``)."""
    attr = MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_RECURSIVE if recursive else 0
    syscall(
        "mount_setattr",
        AT_FDCWD,
        ctypes.c_char_p(os.fsencode(path)),
        flags,
        ctypes.c_void_p(ctypes.addressof(attr)),
        ctypes.sizeof(attr),
    )


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(
        _libc.prctl(
            option,
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(arg4),
            ctypes.c_ulong(arg5),
        ),
        f"prctl({option})",
    )


def setgroups_empty() -> None:
    _check(_libc.setgroups(0, None), "setgroups")


PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
#: SECBIT_NOROOT, SECBIT_NO_SETUID_FIXUP, SECBIT_KEEP_CAPS_LOCKED,
#: SECBIT_NO_CAP_AMBIENT_RAISE and their locks: uid 0 never means
#: capabilities again, not even across execve.
SECUREBITS_NO_ROOT = 0x1 | 0x2 | 0x4 | 0x8 | 0x20 | 0x40 | 0x80
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAPSET = {"x86_64": 126, "aarch64": 91}


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40


def drop_capabilities() -> None:
    """No capability, now or after any execve, even as uid 0 of a user namespace."""
    for cap in range(last_capability() + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0), "PR_CAPBSET_DROP")
    _libc.prctl(PR_CAP_AMBIENT, ctypes.c_ulong(PR_CAP_AMBIENT_CLEAR_ALL), 0, 0, 0)
    prctl(PR_SET_SECUREBITS, SECUREBITS_NO_ROOT)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    nr = _CAPSET.get(MACHINE)
    if nr is None:
        raise OSError(38, f"capset: no syscall number known for {MACHINE}")
    _check(_syscall(nr, ctypes.byref(header), ctypes.byref(data)), "capset")
