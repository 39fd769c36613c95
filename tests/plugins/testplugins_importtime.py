"""A plugin whose import-time code behaves while unprivileged and tries harm
when it finds itself privileged: it records who it is and tries to get out.

Module-level code runs wherever the module is imported: in ``action-host
--inspect`` (an index refresh, an install), in a template (``preload_actions``
used or all), in a spawned host. The report travels in the action's
description (what ``--inspect`` lists) and in its result (a template's
children inherit the module it imported), so a test can read every path.
Attempts that would change the importing process run in a forked child.
"""

import ctypes
import json
import os
import socket

from actions_api import Action

_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MNT_DETACH = 2


def _fail(what):
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def _try(fn):
    try:
        return {"ok": True, "value": fn()}
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _in_child(fn):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, json.dumps(_try(fn)).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data)


def _status():
    with open("/proc/self/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def _setns_host_mounts():
    """Join pid 1's mount namespace (the host's, when /proc is the host's)."""
    fd = os.open("/proc/1/ns/mnt", os.O_RDONLY)
    if _libc.setns(fd, CLONE_NEWNS) != 0:
        _fail("setns")
    return sorted(os.listdir("/root"))


def _undo_the_view():
    """A mount namespace of our own, then off with the tmpfs hiding /tmp."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        _fail("unshare(CLONE_NEWNS)")
    if _libc.umount2(b"/tmp", MNT_DETACH) != 0:
        _fail("umount2(/tmp)")
    return sorted(os.listdir("/tmp"))


def _new_user_namespace():
    if _libc.unshare(CLONE_NEWUSER) != 0:
        _fail("unshare(CLONE_NEWUSER)")
    return "a user namespace of its own"


def _root_cgroup():
    done = []
    for path in (
        "/sys/fs/cgroup/cgroup.procs",
        "/sys/fs/cgroup/unified/cgroup.procs",
        "/sys/fs/cgroup/memory/cgroup.procs",
        "/sys/fs/cgroup/pids/cgroup.procs",
    ):
        if os.path.exists(path):
            with open(path, "w") as f:
                f.write(str(os.getpid()))
            done.append(path)
    return done


def _broker():
    with socket.create_connection(("127.0.0.1", 5672), timeout=2):
        return "connected"


def _plant():
    with open("/var/tmp/planted-at-import", "w") as f:
        f.write("planted")
    return "planted"


def _listen():
    s = socket.socket()
    s.listen(1)
    return f"listening on {s.getsockname()}"


def _squat():
    s = socket.socket(socket.AF_UNIX)
    s.bind("\0import-time-squat-" + str(os.getpid()))
    s.listen(1)
    return "squatting"


def _parent():
    """The importing process's parent, as /proc names it: the launcher that
    waits for a template (a template sees the host's /proc)."""
    me = os.readlink("/proc/self")
    with open(f"/proc/{me}/status") as f:
        return next(line.split()[1] for line in f if line.startswith("PPid:"))


PARENT = _parent()


def _parents_memory():
    with open(f"/proc/{PARENT}/mem", "rb"):
        return f"opened the memory of {PARENT}"


def _report():
    status = _status()
    return {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "cap_eff": int(status["CapEff"], 16),
        "seccomp": status["Seccomp"],
        "no_new_privs": status["NoNewPrivs"],
        "userns": os.readlink("/proc/self/ns/user"),
        "mntns": os.readlink("/proc/self/ns/mnt"),
        "netns": os.readlink("/proc/self/ns/net"),
        "cgroup": open("/proc/self/cgroup").read(),
        "setns": _in_child(_setns_host_mounts),
        "undo_view": _in_child(_undo_the_view),
        "userns_new": _in_child(_new_user_namespace),
        "root_cgroup": _in_child(_root_cgroup),
        "broker": _try(_broker),
        "plant": _in_child(_plant),
        "listen": _in_child(_listen),
        "squat": _in_child(_squat),
        "parent_memory": _in_child(_parents_memory),
    }


REPORT = _report()


class ImportReport(Action):
    """import-report"""

    def run(self, context):
        return {"imported": REPORT, "running_mntns": os.readlink("/proc/self/ns/mnt")}


ImportReport.__doc__ = "import-report " + json.dumps(REPORT, separators=(",", ":"))
