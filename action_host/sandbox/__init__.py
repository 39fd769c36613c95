"""The host's side of the sandbox: confine each child before any action code runs.

Three stages, so that everything expensive happens once per template:

* before the environment's interpreter starts, the launcher
  (``sandbox.launch``, run by the executor) puts the process into its
  cgroups, two nested user namespaces and its own file system view, and
  loads the template's seccomp profile: plugin code imported by the
  template (``--preload``, ``.pth`` files) holds no capability outside that
  user namespace;
* ``prepare(spec)`` (``prepared``: once, in the template or spawned host)
  opens its pid namespace, creates the Landlock ruleset and assembles the
  children's seccomp program;
* ``fork(prepared)`` forks a child into a fresh pid namespace (the template
  unshares the namespace for its next child and returns to its own, so
  there is no extra fork), and ``enter(prepared, child)`` (``steps``: one
  function per step, each timed) in the child finishes the cheap per-action
  part: its own mount/ipc/uts
  (and, for ``none``, network) namespaces, a private size-limited tmpfs
  /tmp holding the working directory (``private_tmp``), a private devpts and /proc, its own
  uid of the template's range (or no capability at all), no_new_privs,
  Landlock, and seccomp last (it forbids the calls made above).

A spare child does all this before it waits for its request, so the request
path does not change. A spawned host (``supervisor``) does the same for its
one sandboxed child and stays outside as its supervisor.
"""

from __future__ import annotations

from . import _sys
from .prepared import Prepared, SandboxError, fork, prepare
from .private_tmp import WORKDIR
from .spec import Spec
from .steps import ENTERED, STEPS, enter
from .supervisor import spawned_host, supervise


def not_dumpable() -> None:
    """Nobody but root reads this process's memory or /proc files."""
    _sys.prctl(_sys.PR_SET_DUMPABLE, 0)


__all__ = [
    "ENTERED",
    "STEPS",
    "WORKDIR",
    "Prepared",
    "SandboxError",
    "Spec",
    "enter",
    "fork",
    "not_dumpable",
    "prepare",
    "spawned_host",
    "supervise",
]
