"""What this kernel and this user allow, found by trying each mechanism for real.

Run as a subprocess (``python -m executor.sandbox.probe``) so nothing of it
touches the executor. The namespace mechanisms are tried the way hosts use
them: the launcher (``action_host.sandbox.launch``) starts this module again
(``--inside``) in a user namespace and view of its own, and that process
forks one child per mechanism. Capabilities are checked, not the uid: a
service user with the capabilities its systemd unit grants gets what root
gets. Prints JSON: mechanism -> [available, detail].
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import struct
import subprocess
import sys

from executor.environments.model import default_environment
from executor.sandbox import cgroups, egress, ids
from executor.sandbox.view import view_for
from protocol.launch_plan import IdMap, LaunchPlan, UserNamespacePlan

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
CLONE_NEWIPC, CLONE_NEWUTS = 0x08000000, 0x04000000
_SECCOMP_ARCHES = ("x86_64", "aarch64")
_NAMESPACED = (
    "filesystem",
    "pid_namespace",
    "network_none",
    "identity",
    "seccomp",
    "landlock",
    "no_new_privs",
)


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
    if _libc.mount(b"devpts", b"/dev/pts", b"devpts", ctypes.c_ulong(0), b"newinstance") != 0:
        return _errno("mount devpts (a private /dev/pts)")
    return None


def _pidns() -> str | None:
    problem = _unshare(CLONE_NEWPID | CLONE_NEWNS)
    if problem:
        return problem
    pid = os.fork()
    if pid == 0:
        ok = (
            os.getpid() == 1
            and _libc.mount(b"proc", b"/proc", b"proc", ctypes.c_ulong(14), None) == 0
        )
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    return None if status == 0 else "no pid 1 with its own /proc in a new pid namespace"


def _netns() -> str | None:
    return _unshare(CLONE_NEWNET)


def _identity() -> str | None:
    with open("/proc/self/uid_map") as f:
        mapped = sum(int(line.split()[2]) for line in f if line.strip())
    if mapped < 2:
        return "one id only in the user namespace (see the user_namespace row)"
    os.setgroups([])
    os.setresgid(1, 1, 1)
    os.setresuid(1, 1, 1)
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


def _landlock() -> str | None:
    abi = int(_libc.syscall(444, None, 0, 1))
    if abi < 0:
        return "Landlock is not enabled in this kernel (boot with lsm=...,landlock)"
    if abi < 6:
        return f"Landlock ABI {abi} has no signal/abstract-socket scopes (needs 6, Linux 6.12)"
    return None


INSIDE_TESTS = {
    "filesystem": _filesystem,
    "pid_namespace": _pidns,
    "network_none": _netns,
    "identity": _identity,
    "seccomp": _seccomp,
    "landlock": _landlock,
    "no_new_privs": _no_new_privs,
}


def inside() -> dict[str, tuple[bool, str]]:
    """In the launched process: each namespaced mechanism in a child."""
    return {name: _in_child(test) for name, test in INSIDE_TESTS.items()}


def _launch_test(source: ids.IdSource) -> tuple[dict[str, tuple[bool, str]], str]:
    """Start ``--inside`` through the launcher; (results, problem)."""
    outer: tuple[IdMap, IdMap]
    inner: IdMap
    if source.writer == "self":
        outer = ((0, os.geteuid(), 1),), ((0, os.getegid(), 1),)
        inner = ((0, 0, 1),)
    else:
        uid, gid, _count = source.ranges[0]
        outer = ((0, os.geteuid(), 1), (1, uid, 2)), ((0, os.getegid(), 1), (1, gid, 2))
        inner = ((0, 1, 2),)
    root = _ROOT
    plan = LaunchPlan(
        argv=(sys.executable, "-I", "-c", _BOOT, root),
        environ={"PATH": "/usr/bin:/bin"},
        cwd="/",
        parent_pid=os.getpid(),
        userns=UserNamespacePlan(outer[0], outer[1], inner, inner, source.writer),
        view=view_for(default_environment(), ()),
        seccomp=False,
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", _LAUNCH, root, plan.to_json()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        return {}, out.stderr.strip()[-1000:] or f"exit code {out.returncode}"
    raw = json.loads(out.stdout)
    return {k: (bool(v[0]), str(v[1])) for k, v in raw.items()}, ""


#: Where this installation's packages are (the view must show it).
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: The launcher and the probe's inside part, run from this installation by path.
_LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from action_host.sandbox.launch import main; main()"
)
_BOOT = (
    "import sys, json; sys.path.insert(0, sys.argv[1]); "
    "from executor.sandbox.probe import inside; "
    "json.dump({k: list(v) for k, v in inside().items()}, sys.stdout)"
)


def _egress() -> tuple[bool, str]:
    if not any(h.version == 2 for h in cgroups.hierarchies(set())):
        return False, "no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)"
    try:
        egress.load_programs_only()
    except OSError as exc:
        return False, (
            f"cannot load the cgroup BPF programs: {exc.strerror or exc}; they need "
            "CAP_BPF and CAP_NET_ADMIN (root, or the systemd unit's AmbientCapabilities=)"
        )
    return True, "cgroup BPF connect/sendmsg/bind hooks"


def namespace_problem(problem: str) -> str:
    """What the failed start of a process in a user namespace means, and the fix."""
    if "No module named" in problem:
        return (
            f"the sandbox's view does not show this executor's own code ({_ROOT}): "
            f"{problem.strip().splitlines()[-1]}. Is it installed or checked out under a "
            "directory the view hides (/tmp, /var/tmp, /run, a home)? Install it elsewhere "
            "(e.g. /opt or /srv)"
        )
    return (
        f"cannot start a process in a user namespace: {problem}. Unprivileged user "
        "namespaces may be off (sysctl user.max_user_namespaces, "
        "kernel.unprivileged_userns_clone, kernel.apparmor_restrict_unprivileged_userns)"
    )


def probe(first: int = 200000, count: int = 65536) -> dict[str, tuple[bool, str]]:
    source = ids.id_source(first, count)
    found: dict[str, tuple[bool, str]] = {}
    results, problem = _launch_test(source)
    if problem:
        found["user_namespace"] = (False, namespace_problem(problem))
        for name in _NAMESPACED:
            found[name] = (False, "needs a user namespace (see user_namespace)")
    else:
        found["user_namespace"] = (True, f"ids mapped by {source.writer} ({source.reason})")
        found.update(results)
        if source.writer == "self" and found.get("identity", (False,))[0] is False:
            found["identity"] = (
                False,
                f"only the executor's own id can be mapped: {source.reason}; give it "
                "CAP_SETUID and CAP_SETGID (the systemd unit does), or subordinate ids",
            )
    found["limits"] = cgroups.available(cgroups.Limits(memory=1, processes=1, cpu_weight=100))
    found["network_egress"] = _egress()
    return found


def main() -> int:
    args = sys.argv[1:]
    first, count = (int(args[0]), int(args[1])) if len(args) == 2 else (200000, 65536)
    json.dump({k: list(v) for k, v in probe(first, count).items()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
