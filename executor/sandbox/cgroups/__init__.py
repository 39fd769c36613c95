"""Limits per action: a cgroup of its own (memory with its tmpfs and memfd
pages, processes, a CPU share), and what it used, read back for its Result.

``RLIMIT_AS`` counts one process's address space, not an action's memory
(three forked children held 5.4 GiB under a "4 GiB" limit, and V8 reserves
far more address space than it uses), so the kernel's memory controller
counts instead: every page an action's processes touch, its private /tmp
(tmpfs) and memfd pages included.

Layout, per hierarchy (cgroup v2, or the v1 controller mounts of a hybrid
system), under the executor's own cgroup (with systemd: its unit's,
``Delegate=yes``)::

    <executor's cgroup>/mistral-action-host.<pid>/
        u-<n>/               one per template or spawned host ("unit")
            host/            the template itself (the launcher joins it)
            a-<k>/           one per action; reused once empty

The executor moves each forked child into a free ``a-<k>`` before it sends
the child any request, so the template needs no right over cgroups at all.
Moving another user's process needs cgroup v2 (write access suffices) or,
on v1, an effective uid of 0 when the file is opened: a service user with
CAP_SETUID has its ``cgroup.procs`` files opened by a small helper
(``v1_opener.ProcsOpener``: euid 0, its own uid for file access, nothing
else). A spawned host (and ``--inspect``) is its own action: its ``host``
directory carries the action's limits.

v2 only: ``memory.oom.group`` makes an out-of-memory kill take the whole
action; on v1 the executor ends the action itself when it sees one.

``model`` holds the limits and usage, ``hierarchy`` finds the mounts,
``directories`` makes, configures and removes directories, ``slot`` is one
action's cgroup, ``tree`` the executor's (``Tree``) and a unit's (``Unit``).
"""

from __future__ import annotations

from executor.sandbox.cgroups.hierarchy import CONTROLLERS, Hierarchy, hierarchies
from executor.sandbox.cgroups.model import CgroupUnavailable, Limits, Usage
from executor.sandbox.cgroups.slot import Slot
from executor.sandbox.cgroups.tree import Tree, Unit, available

__all__ = [
    "CONTROLLERS",
    "CgroupUnavailable",
    "Hierarchy",
    "Limits",
    "Slot",
    "Tree",
    "Unit",
    "Usage",
    "available",
    "hierarchies",
]
