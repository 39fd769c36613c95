"""The once-per-template part of the sandbox, and the fork into a child's
own pid namespace.

``prepare`` does what is expensive (the Landlock ruleset, the seccomp
program) before any child exists, so a child's ``enter`` only applies it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from . import _sys
from .landlock import Ruleset
from .seccomp import Filter
from .spec import Spec


class SandboxError(RuntimeError):
    """A mechanism the executor asked for could not be applied."""


@dataclass
class Prepared:
    spec: Spec
    pidns_fd: int | None = None
    seccomp: Filter | None = None
    ruleset: Ruleset | None = None

    def check_uid(self, uid: int | None) -> None:
        """A child's uid must be one of the template's range (not 0, the template's)."""
        if self.spec.uids > 1 and (uid is None or not 0 < uid < self.spec.uids):
            raise SandboxError(f"child uid {uid!r} is not in 1..{self.spec.uids - 1}")
        if self.spec.uids <= 1 and uid is not None:
            raise SandboxError("this template has no ids for its children: uid must be null")


def prepare(spec: Spec) -> Prepared:
    """Once per template (see the package docstring). Raises ``SandboxError``."""
    prepared = Prepared(spec)
    try:
        if spec.pid_namespace:
            prepared.pidns_fd = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        if spec.landlock:
            prepared.ruleset = Ruleset.build()
        if spec.seccomp:
            prepared.seccomp = Filter.build("action", no_servers=spec.network == "egress")
    except OSError as exc:
        raise SandboxError(f"cannot prepare the sandbox: {exc}") from exc
    return prepared


def fork(prepared: Prepared | None, last: bool = False) -> int:
    """``os.fork()``, the child as pid 1 of a new pid namespace when asked.

    A template returns to its own pid namespace after each fork, which takes
    capabilities over it: templates are pid 1 of one of their own (see
    ``launch``). ``last``: no fork follows (a spawned host), so no return.
    """
    if prepared is None or prepared.pidns_fd is None:
        return os.fork()
    _sys.unshare(_sys.CLONE_NEWPID)  # applies to our next child only
    pid = os.fork()
    if pid and not last:  # parent: our next children are ours again
        _sys.setns(prepared.pidns_fd, _sys.CLONE_NEWPID)
    return pid
