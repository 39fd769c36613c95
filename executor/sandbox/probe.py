"""What this kernel and user allow, found by trying each mechanism.

Run as a subprocess (``python -m executor.sandbox.probe``): every test forks
a single-threaded child that applies the mechanism and reports, so nothing
of it touches the executor. Prints JSON: mechanism -> [available, detail].
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import struct
import sys

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
CLONE_NEWIPC, CLONE_NEWUTS = 0x08000000, 0x04000000
_SECCOMP_ARCHES = ("x86_64", "aarch64")


def _in_child(test: object) -> tuple[bool, str]:
    """Run ``test()`` in a forked child; it returns an error text or None."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            problem = test()  # type: ignore[operator]
        except BaseException as exc:
            problem = f"{exc}"
        os.write(w, (problem or "").encode()[:4000])
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        text = f.read().decode()
    os.waitpid(pid, 0)
    return (not text, text or "works")


def _errno(what: str) -> str:
    err = ctypes.get_errno()
    return f"{what}: {os.strerror(err)}"


def _unshare(flags: int) -> str | None:
    if _libc.unshare(flags) != 0:
        return _errno("unshare")
    return None


def _filesystem() -> str | None:
    problem = _unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS)
    if problem:
        return problem
    if _libc.mount(None, b"/", None, ctypes.c_ulong(16384 | (1 << 18)), None) != 0:
        return _errno("mount --make-rprivate /")
    if _libc.mount(b"tmpfs", b"/tmp", b"tmpfs", ctypes.c_ulong(0), b"size=1m") != 0:
        return _errno("mount tmpfs")
    return None


def _pidns() -> str | None:
    problem = _unshare(CLONE_NEWPID | CLONE_NEWNS)
    if problem:
        return problem
    pid = os.fork()
    if pid == 0:
        ok = (
            os.getpid() == 1
            and _libc.mount(b"proc", b"/proc", b"proc", ctypes.c_ulong(0), None) == 0
        )
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return None if status == 0 else "no pid 1 with its own /proc in a new pid namespace"


def _netns() -> str | None:
    return _unshare(CLONE_NEWNET)


def _identity() -> str | None:
    if os.geteuid() != 0:
        return (
            "the executor is not root: actions would run as its own user "
            f"(uid {os.geteuid()}); run it as root to give each action its own uid"
        )
    os.setgroups([])
    os.setresgid(200000, 200000, 200000)
    os.setresuid(200000, 200000, 200000)
    return None


def _no_new_privs() -> str | None:
    if _libc.prctl(38, 1, 0, 0, 0) != 0:
        return _errno("prctl(PR_SET_NO_NEW_PRIVS)")
    return None


def _seccomp() -> str | None:
    machine = platform.machine()
    if machine not in _SECCOMP_ARCHES:
        return f"no filter for machine {machine}"
    prog = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # return ALLOW
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = struct.pack("<HxxxxxxQ", 1, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    _libc.prctl(38, 1, 0, 0, 0)
    nr = 317 if machine == "x86_64" else 277
    if _libc.syscall(nr, 1, 0, fbuf) != 0:
        return _errno("seccomp(SET_MODE_FILTER)")
    return None


def _landlock_abi() -> int:
    return int(_libc.syscall(444, None, 0, 1))


def _landlock() -> str | None:
    abi = _landlock_abi()
    if abi < 0:
        return "Landlock is not enabled (boot with lsm=...,landlock)"
    if abi < 6:
        return f"Landlock ABI {abi} has no signal/abstract-socket scopes (needs 6, Linux 6.12)"
    return None


def _egress() -> str | None:
    from executor.sandbox import egress

    if egress.cgroup2_root() is None:
        return "no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)"
    if os.geteuid() != 0:
        return "loading the cgroup BPF programs needs root"
    try:
        egress.load_programs_only()
    except OSError as exc:
        return f"cannot load the cgroup BPF programs: {exc}"
    return None


TESTS = {
    "identity": _identity,
    "filesystem": _filesystem,
    "pid_namespace": _pidns,
    "network_none": _netns,
    "network_egress": _egress,
    "seccomp": _seccomp,
    "landlock": _landlock,
    "no_new_privs": _no_new_privs,
}


def probe() -> dict[str, tuple[bool, str]]:
    found = {name: _in_child(test) for name, test in TESTS.items()}
    # RLIMIT_NPROC holds only for a non-root uid of the action's own
    found["process_limit"] = (
        found["identity"][0],
        "RLIMIT_NPROC of the action's own uid"
        if found["identity"][0]
        else "needs the dedicated uid (identity): RLIMIT_NPROC does nothing for root",
    )
    return found


def main() -> int:
    json.dump({k: list(v) for k, v in probe().items()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
