"""Where this process's cgroups are: the mounted hierarchies (v2, and the v1
controller mounts of a hybrid system) and its own cgroup in each."""

from __future__ import annotations

import os
from dataclasses import dataclass

#: The controllers the executor uses, where the machine has them.
CONTROLLERS = ("memory", "pids", "cpu")


@dataclass(frozen=True)
class Hierarchy:
    mount: str
    version: int
    #: the controllers used in this hierarchy (v2: also cpu.stat, always there)
    controllers: frozenset[str]
    #: this process's own cgroup in it
    own: str

    @property
    def own_dir(self) -> str:
        return os.path.join(self.mount, self.own.lstrip("/"))


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, "cgroup"|"cgroup2", v1 controllers) from mountinfo."""
    found = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                fstype, _source, options = (right.split() + ["", "", ""])[:3]
                if fstype in ("cgroup", "cgroup2"):
                    found.append((left.split()[4], fstype, set(options.split(","))))
    except OSError:
        pass
    return found


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    paths = {}
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _id, names, path = line.rstrip("\n").split(":", 2)
                for name in names.split(",") if names else [""]:
                    paths[name] = path
    except OSError:
        pass
    return paths


def hierarchies(wanted: set[str]) -> list[Hierarchy]:
    """The hierarchies that give ``wanted`` controllers here, v2 first (it also
    holds the egress hooks and CPU time); a controller v2 does not have comes
    from its v1 mount."""
    own = _own_paths()
    found: list[Hierarchy] = []
    v2_mount = next((m for m, t, _ in _mounts() if t == "cgroup2"), None)
    have: set[str] = set()
    if v2_mount is not None and "" in own:
        own_dir = os.path.join(v2_mount, own[""].lstrip("/"))
        available = read_text(os.path.join(own_dir, "cgroup.controllers")).split()
        have = {c for c in CONTROLLERS if c in available}
        found.append(Hierarchy(v2_mount, 2, frozenset(have & wanted), own[""]))
    for mount, fstype, options in _mounts():
        if fstype != "cgroup":
            continue
        for controller in sorted(wanted - have):
            if controller in options and controller in own:
                found.append(Hierarchy(mount, 1, frozenset({controller}), own[controller]))
                have.add(controller)
    if "cpu" in wanted:  # v1 CPU time comes from cpuacct, often a mount of its own
        if not any(h.version == 2 for h in found):
            for mount, fstype, options in _mounts():
                if fstype == "cgroup" and "cpuacct" in options and "cpuacct" in own:
                    if not any(h.mount == mount for h in found):
                        found.append(Hierarchy(mount, 1, frozenset(), own["cpuacct"]))
    return found


def read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def write_text(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)
