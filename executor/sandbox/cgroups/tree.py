"""The executor's cgroups (``Tree``) and those of one template or spawned host
(``Unit``), whose action slots it hands out and takes back."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator

from executor.sandbox.cgroups.directories import (
    PREFIX,
    apply_limits,
    enable_controllers,
    make_leaf_for_self,
    remove_tree,
    sweep,
)
from executor.sandbox.cgroups.hierarchy import Hierarchy, hierarchies
from executor.sandbox.cgroups.model import CgroupUnavailable, Limits
from executor.sandbox.cgroups.slot import Slot
from executor.sandbox.cgroups.v1_opener import ProcsOpener, v1_problem

log = logging.getLogger(__name__)


class Tree:
    """This executor's cgroups: created by ``create``, removed by ``remove``."""

    def __init__(self, hierarchies: list[Hierarchy], name: str) -> None:
        self.hierarchies = hierarchies
        self.name = name
        self._units = 0
        self._lock = threading.Lock()
        self._opener: ProcsOpener | None = None

    def has(self, controller: str) -> bool:
        return any(controller in h.controllers for h in self.hierarchies)

    def procs_writer(self, h: Hierarchy, directory: str) -> int | None:
        """A descriptor to write pids into ``directory``'s ``cgroup.procs`` with,
        where this process may not (v1, not root); None: write it directly."""
        if h.version != 1 or os.geteuid() == 0 or not h.controllers:
            return None
        with self._lock:
            if self._opener is None:
                self._opener = ProcsOpener([self.base(x) for x in self.hierarchies])
            opener = self._opener
        return opener.open(os.path.join(directory, "cgroup.procs"))

    @classmethod
    def create(cls, limits: Limits, need_v2: bool = False) -> Tree:
        """Make the executor's directory in every hierarchy ``limits`` need.

        Raises ``CgroupUnavailable`` naming what is missing and how to get it.
        """
        wanted = limits.controllers()
        found = hierarchies(wanted)
        missing = wanted - {c for h in found for c in h.controllers}
        if missing:
            raise CgroupUnavailable(
                95,
                f"no cgroup hierarchy here gives the {', '.join(sorted(missing))} "
                "controller(s) to this executor",
            )
        if need_v2 and not any(h.version == 2 for h in found):
            raise CgroupUnavailable(95, "no cgroup v2 hierarchy is mounted")
        problem = v1_problem(found)
        if problem:
            raise CgroupUnavailable(1, problem)
        tree = cls(found, f"{PREFIX}{os.getpid()}")
        sweep(found)
        for h in found:
            make_leaf_for_self(h)
            base = tree.base(h)
            try:
                os.makedirs(base, exist_ok=True)
            except OSError as exc:
                raise CgroupUnavailable(
                    exc.errno or 13,
                    f"cannot create {base}: {exc.strerror}; run the executor as root, or "
                    "give it a cgroup of its own (systemd: Delegate=yes)",
                ) from None
            enable_controllers(h, base, h.controllers)
        return tree

    def base(self, h: Hierarchy) -> str:
        return os.path.join(h.own_dir, self.name)

    def unit(self, limits: Limits) -> Unit:
        """A new unit (template or spawned host). Its ``host`` directory carries
        ``limits`` too: a spawned host is its own action, and a template runs
        plugin code at import time, bound as an action is."""
        with self._lock:
            self._units += 1
            n = self._units
        unit = Unit(self, f"u-{n}", limits)
        unit.create()
        return unit

    def remove(self) -> None:
        for h in self.hierarchies:
            remove_tree(self.base(h))
        if self._opener is not None:
            self._opener.close()


class Unit:
    """The cgroups of one template (or spawned host) and its actions."""

    def __init__(self, tree: Tree, name: str, limits: Limits) -> None:
        self.tree = tree
        self.name = name
        self.limits = limits
        self._free: list[Slot] = []
        #: slots given back while something lingered in them: files closed,
        #: reused (reopened) once empty, so neither directories nor
        #: descriptors pile up over an executor's life
        self._lingering: list[Slot] = []
        self._made = 0
        self._lock = threading.Lock()

    def _dirs(self, sub: str) -> Iterator[tuple[Hierarchy, str]]:
        for h in self.tree.hierarchies:
            yield h, os.path.join(self.tree.base(h), self.name, sub)

    def create(self) -> None:
        for h in self.tree.hierarchies:
            unit = os.path.join(self.tree.base(h), self.name)
            os.makedirs(unit, exist_ok=True)
            enable_controllers(h, unit, h.controllers)
        for h, d in self._dirs("host"):
            os.makedirs(d, exist_ok=True)
            apply_limits(h, d, self.limits)

    def allow_children(self, count: int, share: int) -> None:
        """A template's memory limit grows by ``share`` for each of the
        ``count`` children it may have at once, now that its start (the plugins'
        import-time code) ran under the action's limit alone.

        Why: a page stays charged to the cgroup that first touched it. Each page
        the template writes after a fork is copied for the template, and the
        original, charged to the template's cgroup, lives on in the children
        forked before the write; so every live child holds a share of the
        template's charge, which the action's limit alone cannot hold for a few
        hundred concurrent actions (the template would be killed, every child
        with it)."""
        if self.limits.memory is None:
            return
        wider = Limits(memory=self.limits.memory + count * share)
        for h, d in self._dirs("host"):
            apply_limits(h, d, wider)

    def host_dirs(self) -> list[str]:
        """Where the launched process itself goes (``LaunchPlan.cgroup_join``)."""
        return [d for _h, d in self._dirs("host")]

    def host_slot(self) -> Slot:
        """The ``host`` directory as a slot (a spawned host is its own action)."""
        slot = Slot("host", list(self._dirs("host")), self.limits.memory)
        slot.begin()
        return slot

    def egress_dir(self) -> str | None:
        """The unit's cgroup v2 directory (where the egress hooks attach)."""
        for h in self.tree.hierarchies:
            if h.version == 2:
                return os.path.join(self.tree.base(h), self.name)
        return None

    def take(self) -> Slot:
        """A free action slot (a new one when none is free), counters begun."""
        with self._lock:
            slot = self._free.pop() if self._free else self._settled()
            if slot is None:
                self._made += 1
                name = f"a-{self._made}"
        if slot is None:
            slot = Slot(name, list(self._dirs(name)), self.limits.memory)
            for h, d in slot.dirs:
                os.makedirs(d, exist_ok=True)
                apply_limits(h, d, self.limits)
        if not slot.writers:
            for h, d in slot.dirs:
                writer = self.tree.procs_writer(h, d)
                if writer is not None:
                    slot.writers[d] = writer
        slot.begin()
        return slot

    def _settled(self) -> Slot | None:
        """A lingering slot that has emptied since (caller holds the lock)."""
        for i, slot in enumerate(self._lingering):
            if slot.empty():
                return self._lingering.pop(i)
        return None

    def give_back(self, slot: Slot) -> None:
        """The action's processes are gone: the slot serves the next one."""
        if slot.name == "host":
            slot.close()
            return
        if not slot.empty():  # something lingers: not for the next action yet
            log.debug(
                "cgroup %s of %s still holds processes; reused once empty", slot.name, self.name
            )
            slot.close()
            with self._lock:
                self._lingering.append(slot)
            return
        with self._lock:
            self._free.append(slot)

    def rest(self) -> None:
        """A quiet moment: idle slots let go of their files (reopened when
        taken), so an idle executor holds none."""
        with self._lock:
            lingering, self._lingering = self._lingering, []
            for slot in lingering:
                (self._free if slot.empty() else self._lingering).append(slot)
            for slot in self._free:
                slot.close()

    def remove(self) -> None:
        with self._lock:
            free, self._free, self._lingering = self._free, [], []
        for slot in free:
            slot.close()
        for h in self.tree.hierarchies:
            remove_tree(os.path.join(self.tree.base(h), self.name))


def available(limits: Limits) -> tuple[bool, str]:
    """Whether ``Tree.create(limits)`` would work here, without creating anything."""
    wanted = limits.controllers()
    if not wanted:
        return True, "no limit asked for"
    found = hierarchies(wanted)
    missing = wanted - {c for h in found for c in h.controllers}
    if missing:
        return False, f"no cgroup hierarchy gives {', '.join(sorted(missing))} here"
    problem = v1_problem(found)
    if problem:
        return False, problem
    for h in found:
        if not os.access(h.own_dir, os.W_OK):
            return False, (
                f"{h.own_dir} is not writable by this user; run as root, or give the "
                "executor a cgroup of its own (systemd: Delegate=yes)"
            )
    kinds = ", ".join(
        f"v{h.version} {'+'.join(sorted(h.controllers)) or 'cpu time'}" for h in found
    )
    return True, f"cgroup {kinds}"
