"""Making, configuring and removing cgroup directories: controllers enabled,
limits written, the leaf the executor itself moves into, leftovers swept."""

from __future__ import annotations

import os

from executor.sandbox.cgroups.hierarchy import Hierarchy, read_text, write_text
from executor.sandbox.cgroups.model import CgroupUnavailable, Limits

#: The name of an executor's own directory, followed by its pid.
PREFIX = "mistral-action-host."


def make_leaf_for_self(h: Hierarchy) -> None:
    """cgroup v2 keeps processes in leaves only: an executor alone in a
    non-root cgroup (systemd's unit, Delegate=yes) moves into ``executor``."""
    if h.version != 2 or h.own in ("/", "") or not h.controllers:
        return
    own_dir = h.own_dir
    procs = read_text(os.path.join(own_dir, "cgroup.procs")).split()
    if procs and set(procs) != {str(os.getpid())}:
        return  # not ours alone; enabling controllers below will say why
    leaf = os.path.join(own_dir, "executor")
    os.makedirs(leaf, exist_ok=True)
    write_text(os.path.join(leaf, "cgroup.procs"), "0")  # our tree stays a sibling of it


def enable_controllers(h: Hierarchy, directory: str, controllers: frozenset[str]) -> None:
    if h.version != 2 or not controllers:
        return
    parent = os.path.normpath(os.path.dirname(directory))
    for d in (parent, directory):
        try:
            write_text(
                os.path.join(d, "cgroup.subtree_control"), " ".join(f"+{c}" for c in controllers)
            )
        except OSError as exc:
            raise CgroupUnavailable(
                exc.errno or 16,
                f"cannot enable {', '.join(sorted(controllers))} in {d}: {exc.strerror} "
                "(cgroup v2 needs it to hold no process of its own; with systemd, "
                "Delegate=yes)",
            ) from None


def remove_tree(path: str) -> None:
    """rmdir bottom-up (cgroup directories cannot be removed with files in them)."""
    if not os.path.isdir(path):
        return
    for root, dirs, _files in os.walk(path, topdown=False):
        for d in dirs:
            try:
                os.rmdir(os.path.join(root, d))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def sweep(found: list[Hierarchy]) -> None:
    """Remove the directories of executors that are no longer running."""
    for h in found:
        try:
            names = os.listdir(h.own_dir)
        except OSError:
            continue
        for name in names:
            if name.startswith(PREFIX) and name[len(PREFIX) :].isdigit():
                pid = int(name[len(PREFIX) :])
                if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
                    remove_tree(os.path.join(h.own_dir, name))


def apply_limits(h: Hierarchy, directory: str, limits: Limits) -> None:
    """Write ``limits`` into one directory of ``h`` (its controllers only)."""
    files: list[tuple[str, str]] = []
    if "memory" in h.controllers and limits.memory is not None:
        if h.version == 2:
            files += [("memory.max", str(limits.memory)), ("memory.swap.max", "0")]
            files += [("memory.oom.group", "1")]
        else:
            files += [("memory.limit_in_bytes", str(limits.memory))]
    if "pids" in h.controllers and limits.processes is not None:
        files.append(("pids.max", str(limits.processes)))
    if "cpu" in h.controllers:
        if limits.cpu_weight is not None:
            if h.version == 2:
                files.append(("cpu.weight", str(limits.cpu_weight)))
            else:
                files.append(("cpu.shares", str(max(2, limits.cpu_weight * 1024 // 100))))
        if limits.cpu_max is not None:
            period = 100000
            quota = max(1000, int(limits.cpu_max * period))
            if h.version == 2:
                files.append(("cpu.max", f"{quota} {period}"))
            else:
                files += [("cpu.cfs_period_us", str(period)), ("cpu.cfs_quota_us", str(quota))]
    for name, value in files:
        path = os.path.join(directory, name)
        try:
            write_text(path, value)
        except FileNotFoundError:
            if name in ("memory.swap.max", "memory.oom.group"):
                continue  # no swap accounting / an older kernel: the rest still holds
            raise
