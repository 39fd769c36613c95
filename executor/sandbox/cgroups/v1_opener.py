"""Moving another user's process into a cgroup v1 needs an effective uid of 0
when ``cgroup.procs`` is opened: what a non-root executor does about it."""

from __future__ import annotations

import os
import threading

from executor.sandbox.cgroups.hierarchy import Hierarchy, read_text
from executor.sandbox.cgroups.model import CgroupUnavailable


def v1_problem(found: list[Hierarchy]) -> str:
    """Why moving actions into v1 cgroups cannot work for this process, or ""."""
    if os.geteuid() == 0 or not any(h.version == 1 and h.controllers for h in found):
        return ""
    if _has_cap_setuid():
        return ""
    return (
        "cgroup v1 lets only an effective uid of 0 move an action's processes into "
        "their own cgroup: give the executor CAP_SETUID (the systemd unit does), run it "
        "as root, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)"
    )


def _has_cap_setuid() -> bool:
    for line in read_text("/proc/self/status").splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 7))
    return False


#: The helper of ``ProcsOpener``: euid 0 (what cgroup v1 checks), the
#: executor's own uid for file access, and only ``cgroup.procs`` files of the
#: executor's own directories; each opened file goes back over SCM_RIGHTS.
_OPENER = r"""
import array, ctypes, os, socket, sys
tops = [t.rstrip("/") + "/" for t in sys.argv[1:]]
sock = socket.socket(fileno=0)
me = os.getuid()
os.setresuid(me, 0, me)
ctypes.CDLL(None).setfsuid(me)
while True:
    path = sock.recv(4096).decode()
    if not path:
        break
    real = os.path.realpath(path)
    if os.path.basename(real) != "cgroup.procs" or not any(real.startswith(t) for t in tops):
        sock.sendmsg([b"refused: not a cgroup.procs file of the executor's"])
        continue
    try:
        fd = os.open(real, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        sock.sendmsg([f"{exc}".encode()])
        continue
    sock.sendmsg([b"ok"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
    os.close(fd)
"""


class ProcsOpener:
    """Opens ``cgroup.procs`` files for a non-root executor on cgroup v1."""

    def __init__(self, tops: list[str]) -> None:
        import socket
        import subprocess
        import sys

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = ours
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _OPENER, *tops],
            stdin=theirs.fileno(),
            close_fds=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        theirs.close()

    def open(self, path: str) -> int:
        import array
        import socket

        with self._lock:
            self._sock.sendall(path.encode())
            fds = array.array("i")
            message, ancillary, _flags, _addr = self._sock.recvmsg(4096, socket.CMSG_SPACE(4))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        if message != b"ok" or not fds:
            raise CgroupUnavailable(13, f"cannot open {path}: {message.decode(errors='replace')}")
        return fds[0]

    def close(self) -> None:
        self._sock.close()
        try:
            self._proc.wait(5)
        except Exception:
            self._proc.kill()
