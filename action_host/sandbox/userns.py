"""Two nested user namespaces: where a template (or spawned host) lives.

A template must create namespaces, mounts and identities for its children,
which takes capabilities; it also imports plugin code. So it holds those
capabilities only inside a user namespace of its own, where they reach
nothing of the machine's: no file, process, cgroup or namespace of the
executor's (bubblewrap's rootless model). Two levels, because the file
system view must be built with the executor's own file access (its
interpreter may live under /root, its state directory is private) and then
locked against the process that runs plugin code:

* *outer* (``enter_outer``): inside 0 is the executor's own uid, inside
  1..n the leased range. The view is built here (``view.build``).
* *inner* (``enter_inner``): inside 0..n-1 is outer 1..n, i.e. the leased
  range only. A new mount namespace made here copies the view with every
  mount locked (the kernel locks mounts that cross into a less privileged
  user namespace): the template cannot unmount a hiding tmpfs or make a
  read-only mount writable again, and files of the executor's uid are
  foreign to it.

The maps of a new user namespace must be written from its parent namespace,
so a helper forked just before ``unshare`` writes them and exits.
"""

from __future__ import annotations

import os
import subprocess

from protocol.launch_plan import IdMap

from . import _sys


class UserNamespaceError(OSError):
    pass


def enter_outer(uid_map: IdMap, gid_map: IdMap, writer: str) -> None:
    """Become 0 of a new user namespace mapped by ``writer`` (see ``LaunchPlan``)."""
    _unshare_user(uid_map, gid_map, writer)
    _become_root(drop_groups=writer != "self")


def enter_inner(uid_map: IdMap, gid_map: IdMap, can_set_groups: bool) -> None:
    """Become 0 of a user namespace nested in the outer one; our outer root
    (CAP_SETUID there) writes the maps, which name outer ids."""
    _unshare_user(uid_map, gid_map, "write")
    _become_root(drop_groups=can_set_groups)


def _become_root(drop_groups: bool) -> None:
    if drop_groups:
        os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)


def _unshare_user(uid_map: IdMap, gid_map: IdMap, writer: str) -> None:
    """``unshare(CLONE_NEWUSER)`` with the maps written by a helper forked first."""
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    target = os.getpid()
    helper = os.fork()
    if helper == 0:  # still in the parent namespace, with our credentials there
        status = 1
        try:
            os.close(go_w)
            os.close(done_r)
            if os.read(go_r, 1) == b"1":
                _write_maps(target, uid_map, gid_map, writer)
                os.write(done_w, b"ok")
                status = 0
        except BaseException as exc:
            os.write(done_w, str(exc).encode()[:2000] or repr(exc).encode())
        finally:
            os._exit(status)
    os.close(go_r)
    os.close(done_w)
    try:
        try:
            _sys.unshare(_sys.CLONE_NEWUSER)
        except OSError:
            os.write(go_w, b"0")
            raise
        os.write(go_w, b"1")
        answer = os.read(done_r, 4096)
    finally:
        os.close(go_w)
        os.close(done_r)
        os.waitpid(helper, 0)
    if answer != b"ok":
        raise UserNamespaceError(
            1, f"cannot map the ids of the new user namespace: {answer.decode(errors='replace')}"
        )


def _lines(id_map: IdMap) -> str:
    return "".join(f"{inside} {outside} {count}\n" for inside, outside, count in id_map)


def _write_maps(pid: int, uid_map: IdMap, gid_map: IdMap, writer: str) -> None:
    if writer == "newuidmap":
        for tool, id_map in (("newuidmap", uid_map), ("newgidmap", gid_map)):
            args = [str(n) for line in id_map for n in line]
            out = subprocess.run(
                [tool, str(pid), *args], capture_output=True, text=True, check=False
            )
            if out.returncode != 0:
                raise UserNamespaceError(
                    1, f"{tool} {pid} {' '.join(args)} failed: {out.stderr.strip()}"
                )
        return
    if writer == "self":
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    elif writer != "write":
        raise UserNamespaceError(22, f"unknown id map writer {writer!r}")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(_lines(uid_map))
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(_lines(gid_map))
