"""The launcher: confine a process, then start the environment's interpreter in it.

``python -m action_host.sandbox.launch PLAN_JSON`` is run by the executor's
own interpreter (no plugin code in it) for every process that will run
plugin code: templates, spawned hosts, ``action-host --inspect``. Plugin
code can run from the environment interpreter's first instruction (``.pth``
files, ``sitecustomize``), so nothing of the environment is read or run
until every step below is done. The steps, in this order (each needs the
ones before it; see ``protocol.launch_plan``):

1. ``die_with_executor``: SIGKILL when the executor dies.
2. ``join_cgroups``: the process's own cgroups (limits, the egress hooks),
   while it still has the executor's rights to move itself.
3. ``enter_outer``: a user namespace with the executor's identity and the
   leased ids.
4. ``build_view``: its mount namespace and file system view.
5. ``enter_inner``: a nested user namespace holding the leased ids only,
   a mount namespace that locks the view, and (the ``none`` policy) a
   network namespace of its own.
6. ``harden``: not dumpable, die with parent again (a credential change
   clears it), no_new_privs, a Landlock domain of its own, the template's
   seccomp profile.
7. ``own_pid_namespace`` (templates): the process forks into a pid
   namespace of its own; this one stays outside as its parent, turned into
   a minimal waiting interpreter (``SUPERVISOR``), and ends as it ends.
8. ``exec``: kept descriptors, working directory, environment, execve.

A step that fails ends the launcher with ``ExitCode.LAUNCH_FAILED`` and one
line on stderr that names the step; nothing has run then.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from protocol.exit_codes import ExitCode
from protocol.launch_plan import LaunchPlan, PlanError

from ..lifeline import kill_on_parent_death, parent_is_gone
from . import _sys, userns, view
from .landlock import Ruleset
from .seccomp import Filter


class Launch:
    """One launch, carried out step by step (``STEPS``)."""

    def __init__(self, plan: LaunchPlan) -> None:
        self.plan = plan

    def die_with_executor(self) -> None:
        kill_on_parent_death()
        if parent_is_gone(self.plan.parent_pid):
            raise OSError(3, f"the executor (pid {self.plan.parent_pid}) is gone")

    def join_cgroups(self) -> None:
        for directory in self.plan.cgroup_join:
            with open(os.path.join(directory, "cgroup.procs"), "w") as f:
                f.write("0")

    def enter_outer(self) -> None:
        if self.plan.userns is not None:
            ns = self.plan.userns
            userns.enter_outer(ns.outer_uid, ns.outer_gid, ns.writer)

    def build_view(self) -> None:
        if self.plan.view is not None:
            view.build(self.plan.view)

    def enter_inner(self) -> None:
        if self.plan.userns is not None:
            ns = self.plan.userns
            userns.enter_inner(ns.inner_uid, ns.inner_gid, can_set_groups=ns.writer != "self")
            # A mount namespace of the inner user namespace: the kernel locks
            # every mount copied into it, so the view cannot be undone here.
            _sys.unshare(_sys.CLONE_NEWNS)
        if self.plan.network_namespace:
            _sys.unshare(_sys.CLONE_NEWNET)

    def harden(self) -> None:
        _sys.prctl(_sys.PR_SET_DUMPABLE, 0)
        self.die_with_executor()
        _sys.prctl(_sys.PR_SET_NO_NEW_PRIVS, 1)
        if self.plan.landlock:
            Ruleset.build().restrict_self()
        if self.plan.seccomp:
            Filter.build("template", no_servers=self.plan.no_servers).load()

    def own_pid_namespace(self) -> None:
        if not self.plan.pid_namespace:
            return
        _sys.unshare(_sys.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # pid 1 of the new namespace: carries on to exec
            kill_on_parent_death()
            if self.plan.landlock:  # a domain below its parent's: out of its reach
                Ruleset.build().restrict_self()
            return
        # The parent waits for it with the environment's interpreter, without
        # site (no plugin code) and without the memory of this one; the
        # channel on fd 0 is the child's alone (its end must close with it).
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        python = self.plan.argv[0]
        os.execv(python, [python, "-I", "-S", "-c", SUPERVISOR, str(pid)])

    def exec(self) -> NoReturn:
        # Only inheritable descriptors survive (Python opens none): 0-2 and these.
        for fd in self.plan.keep_fds:
            os.set_inheritable(fd, True)
        os.chdir(self.plan.cwd)
        os.execve(self.plan.argv[0], list(self.plan.argv), dict(self.plan.environ))

    STEPS: Sequence[Callable[[Launch], object]] = (
        die_with_executor,
        join_cgroups,
        enter_outer,
        build_view,
        enter_inner,
        harden,
        own_pid_namespace,
    )


#: The waiting parent of a process started in a pid namespace of its own: it
#: ends as its child ends (the same exit code or signal).
SUPERVISOR = """
import ctypes, os, signal, sys
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: its child cannot read it
pid = int(sys.argv[1])
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except InterruptedError:
        continue
    except ChildProcessError:
        os._exit(1)
if os.WIFSIGNALED(status):
    if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
os._exit(os.waitstatus_to_exitcode(status))
"""


def _read_plan(args: list[str]) -> str:
    """The plan: ``--plan-fd N`` (an inherited descriptor, read and closed:
    the plan names environment variables, which a command line would show
    to every user of the machine), or the JSON itself."""
    if len(args) == 2 and args[0] == "--plan-fd":
        fd = int(args[1])
        data = b""
        while chunk := os.pread(fd, 1 << 20, len(data)):
            data += chunk
        os.close(fd)
        return data.decode()
    if len(args) == 1:
        return args[0]
    raise PlanError("usage: python -m action_host.sandbox.launch --plan-fd N | PLAN_JSON")


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        launch = Launch(LaunchPlan.from_json(_read_plan(args)))
    except (PlanError, ValueError, OSError) as exc:
        sys.stderr.write(f"action-host launcher: {exc} (executor use)\n")
        os._exit(ExitCode.USAGE)
    for step in Launch.STEPS:
        try:
            step(launch)
        except Exception as exc:
            name = getattr(step, "__name__", "?")
            sys.stderr.write(f"action-host launcher: step {name} failed: {exc}\n")
            sys.stderr.flush()
            os._exit(ExitCode.LAUNCH_FAILED)
    try:
        launch.exec()
    except Exception as exc:
        hint = ""
        if isinstance(exc, PermissionError) and launch.plan.view is None:
            hint = (
                " (without a private file system the environment's interpreter and its "
                "directories must be readable by the actions' own ids: other users)"
            )
        sys.stderr.write(f"action-host launcher: cannot start {launch.plan.argv[0]}: {exc}{hint}\n")
        sys.stderr.flush()
        os._exit(ExitCode.LAUNCH_FAILED)


if __name__ == "__main__":
    main()
