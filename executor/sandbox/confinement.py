"""``Confinement``: one process that runs plugin code, confined.

It holds what ``SandboxRuntime.confine`` made for it (a slice of the ids, a
cgroup unit with the egress hooks on it, the launcher's plan and the
children's ``SandboxSpec``) and builds the ``Command`` that starts it.
Released once that process is gone.
"""

from __future__ import annotations

import collections
import fcntl
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from executor.sandbox import cgroups, ids
from executor.sandbox.model import SandboxPolicy
from protocol.launch_plan import LaunchPlan, UserNamespacePlan, ViewPlan
from protocol.messages import SandboxSpec

if TYPE_CHECKING:
    from executor.sandbox.runtime import SandboxRuntime

#: The directory holding ``action_host`` and ``protocol`` (this installation).
#: What one live child keeps charged to its template's cgroup: the template's
#: pages it wrote after the fork, whose originals the child still maps. About
#: 1.9 MiB measured with the std actions (benchmarks/run.py's 1000 sleepers);
#: twice that, for templates that hold more.
CHILD_SHARE = 4 * 1024 * 1024

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_LAUNCH = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from action_host.sandbox.launch import main; main()"
)


@dataclass
class Command:
    """A launcher command line and the descriptors it must be given
    (``Popen(argv, pass_fds=pass_fds)``); ``close`` once it started."""

    argv: list[str]
    pass_fds: tuple[int, ...]

    def close(self) -> None:
        for fd in self.pass_fds:
            os.close(fd)


def _config_in_memory(argv: Sequence[str]) -> tuple[list[str], int | None]:
    """``argv`` with its ``--config-file`` options replaced by one memfd."""
    out: list[str] = []
    texts: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        if args[i] == "--config-file" and i + 1 < len(args):
            path = args[i + 1]
            try:
                with open(path, encoding="utf-8") as f:
                    texts.append(f"# {path}\n{f.read()}\n")
            except OSError as exc:
                raise OSError(
                    exc.errno, f"cannot read config file {path} for the hosts: {exc.strerror}"
                ) from None
            i += 2
            continue
        out.append(args[i])
        i += 1
    if not texts:
        return out, None
    fd = _sealed("action-config", "".join(texts).encode())
    return [*out, "--config-file", f"/proc/self/fd/{fd}"], fd


def _sealed(name: str, data: bytes) -> int:
    """An in-memory file holding ``data``, sealed against any change."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


@dataclass
class Confinement:
    """One confined process (see the module docstring); no I/O to build."""

    runtime: SandboxRuntime
    policy: SandboxPolicy
    purpose: str
    #: the children's sandbox; None only when the sandbox is off altogether
    spec: SandboxSpec
    userns: UserNamespacePlan | None
    view: ViewPlan | None
    unit: cgroups.Unit | None
    slice_start: int | None

    def __post_init__(self) -> None:
        self._uid_lock = threading.Lock()
        #: the children's ids (1..uids-1) no live child has, least recently used first
        self._free_uids = collections.deque(range(1, self.spec.uids))
        self._released = False

    @property
    def private_filesystem(self) -> bool:
        return self.spec.private_filesystem

    def take_uid(self) -> int | None:
        """An id of this template's range for its next child (None: it has none)."""
        if self.spec.uids <= 1:
            return None
        with self._uid_lock:
            if not self._free_uids:
                raise ids.NoIdsLeft(
                    f"all {self.spec.uids - 1} ids of this template are in use by running "
                    "actions; raise [sandbox] uids_per_template"
                )
            return self._free_uids.popleft()

    def give_back_uid(self, uid: int | None) -> None:
        if uid is not None:
            with self._uid_lock:
                self._free_uids.append(uid)

    def outside_id(self, uid: int | None) -> int:
        """The machine's id of ``uid`` in this process's inner user namespace."""
        lease = self.runtime.lease
        if self.userns is None or lease is None or self.slice_start is None:
            return os.geteuid()
        return lease.uid + self.slice_start - 1 + (uid or 0)

    def command(self, argv: Sequence[str], environ: dict[str, str], cwd: str) -> Command:
        """The command that starts ``argv`` inside this confinement.

        ``--config-file PATH`` options of ``argv`` are read here and reach the
        process as one sealed in-memory file (its view may not show their
        directories, and it needs nothing else of them).
        """
        argv, config_fd = _config_in_memory(argv)
        keep_fds = (config_fd,) if config_fd is not None else ()
        view = self.view
        plan = LaunchPlan(
            argv=tuple(argv),
            environ=dict(environ),
            # the view's empty /tmp; else, under ids of their own, the root
            cwd="/tmp" if view is not None else (cwd if self.userns is None else "/"),
            parent_pid=os.getpid(),
            cgroup_join=tuple(self.unit.host_dirs()) if self.unit is not None else (),
            userns=self.userns,
            view=view,
            seccomp=self.policy.seccomp or not self.policy.enabled,
            no_servers=self.spec.network == "egress",
            landlock=self.spec.landlock,
            pid_namespace=self.purpose == "template" and self.userns is not None,
            network_namespace=self.userns is not None and self.spec.network == "none",
            keep_fds=keep_fds,
        )
        plan_fd = _sealed("launch-plan", plan.to_json().encode())
        argv = [sys.executable, "-I", "-c", _LAUNCH, _ROOT, "--plan-fd", str(plan_fd)]
        return Command(argv, (*keep_fds, plan_fd))

    def spec_json(self) -> str:
        return self.spec.model_dump_json()

    def allow_children(self, count: int) -> None:
        """A started template may hold ``count`` children at once (its memory
        limit makes room for what they keep of its pages)."""
        if self.unit is not None:
            self.unit.allow_children(count, CHILD_SHARE)

    def take_slot(self) -> cgroups.Slot | None:
        """A cgroup for the next child (its limits; its usage for the Result)."""
        if self.unit is None:
            return None
        if self.purpose != "template":
            return self.unit.host_slot()
        return self.unit.take()

    def give_back(self, slot: cgroups.Slot | None) -> None:
        if slot is not None and self.unit is not None:
            self.unit.give_back(slot)

    def rest(self) -> None:
        """Nothing ran for a while: idle cgroup slots close their files."""
        if self.unit is not None:
            self.unit.rest()

    def release(self) -> None:
        """The confined process is gone: its cgroups, hooks and ids go too (once)."""
        with self._uid_lock:
            released, self._released = self._released, True
        if not released:
            self.runtime.take_back(self)
