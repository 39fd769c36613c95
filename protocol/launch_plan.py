"""``LaunchPlan``: how the executor starts a process that will run plugin code.

The environment's interpreter runs plugin code from its first instruction
(``.pth`` files and ``sitecustomize`` in site-packages are executed at
start-up), so a template, a spawned host or an ``--inspect`` must be confined
*before* that interpreter starts. The executor writes a plan; the launcher
(``python -m action_host.sandbox.launch PLAN``, run by the executor's own
interpreter, which holds no plugin code) carries it out step by step and then
``execve``s the environment's interpreter. Both ends come from one
installation, so the plan is not versioned; it is plain JSON, checked field by
field on both sides.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

#: uid/gid map lines: (first id inside, first id outside, count)
IdMap = tuple[tuple[int, int, int], ...]


class PlanError(ValueError):
    """A plan that is not well formed; names the field."""


@dataclass(frozen=True)
class UserNamespacePlan:
    """Two nested user namespaces (see ``action_host.sandbox.userns``).

    ``outer_*`` maps the executor's own identity (inside 0) and the leased
    range (inside 1..n); the view is built there with the executor's file
    access. ``inner_*`` maps only the leased range: the process that runs
    plugin code is inside 0 there, which is the first leased id outside.
    """

    outer_uid: IdMap
    outer_gid: IdMap
    inner_uid: IdMap
    inner_gid: IdMap
    #: "write": the launcher's helper writes the maps (it has CAP_SETUID and
    #: CAP_SETGID); "newuidmap": the setuid helpers of the uidmap package do
    #: (subordinate ids from /etc/subuid and /etc/subgid); "self": one id,
    #: the caller's own (no helper, setgroups denied).
    writer: str = "write"


@dataclass(frozen=True)
class ViewPlan:
    """The file system the process and its children see."""

    #: Directories hidden behind an empty read-only tmpfs.
    hide: tuple[str, ...]
    #: Real paths under a hidden directory that are shown again, read-only.
    expose: tuple[str, ...]
    #: Paths reached through a symlink inside a hidden directory -> real path
    #: (a managed environment is ``<state>/envs/NAME -> .versions/NAME-<id>``).
    aliases: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LaunchPlan:
    argv: tuple[str, ...]
    environ: dict[str, str]
    cwd: str
    #: The executor: the process dies with it (PR_SET_PDEATHSIG, checked).
    parent_pid: int
    #: cgroup directories whose ``cgroup.procs`` the process joins first.
    cgroup_join: tuple[str, ...] = ()
    userns: UserNamespacePlan | None = None
    view: ViewPlan | None = None
    #: Load the template profile of the seccomp filter (with no_new_privs).
    seccomp: bool = True
    #: ... refusing bind and listen too (the ``egress`` policy: the process
    #: shares this host's network and must not serve on it).
    no_servers: bool = False
    #: Start the process as pid 1 of a pid namespace of its own (a template:
    #: it can then give each child a pid namespace of its own and return to
    #: its own); the launcher stays its parent and ends as it ends.
    pid_namespace: bool = False
    #: A network namespace of its own (the ``none`` policy: the process itself
    #: needs no network, and its children make theirs).
    network_namespace: bool = False
    #: Enforce a Landlock domain (signal and abstract-socket scopes): the
    #: process can signal, trace or reach abstract sockets of nothing outside.
    landlock: bool = False
    #: Descriptors kept open across the exec besides 0-2 and the cgroup dirs.
    keep_fds: tuple[int, ...] = field(default=())

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LaunchPlan:
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise PlanError(f"the launch plan is not JSON: {exc}") from None
        plan: LaunchPlan = _build(cls, raw, "plan")
        return plan


def _build(cls: Any, raw: Any, where: str) -> Any:
    if not isinstance(raw, dict):
        raise PlanError(f"{where} must be an object")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise PlanError(f"{where}: unknown field(s) {unknown}")
    values: dict[str, Any] = {}
    for name, f in names.items():
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise PlanError(f"{where}.{name} is missing")
            continue
        values[name] = _convert(name, raw[name], f"{where}.{name}")
    return cls(**values)


def _convert(name: str, value: Any, where: str) -> Any:
    if name in ("userns", "view"):
        if value is None:
            return None
        return _build(UserNamespacePlan if name == "userns" else ViewPlan, value, where)
    if name.endswith(("_uid", "_gid")):
        return tuple(_id_line(line, where) for line in _list(value, where))
    if name == "aliases":
        return tuple((_str(a, where), _str(b, where)) for a, b in _list(value, where))
    if name == "environ":
        if not isinstance(value, dict):
            raise PlanError(f"{where} must be an object")
        return {_str(k, where): _str(v, where) for k, v in value.items()}
    if name in ("parent_pid",):
        return _int(value, where)
    if name == "keep_fds":
        return tuple(_int(v, where) for v in _list(value, where))
    if name in ("seccomp", "no_servers", "landlock", "pid_namespace", "network_namespace"):
        if type(value) is not bool:
            raise PlanError(f"{where} must be true or false")
        return value
    if name in ("cwd", "writer"):
        return _str(value, where)
    return tuple(_str(v, where) for v in _list(value, where))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise PlanError(f"{where} must be a list")
    return list(value)


def _str(value: Any, where: str) -> str:
    if type(value) is not str:
        raise PlanError(f"{where} must hold strings")
    return value


def _int(value: Any, where: str) -> int:
    if type(value) is not int:
        raise PlanError(f"{where} must hold whole numbers")
    return value


def _id_line(line: Any, where: str) -> tuple[int, int, int]:
    items = _list(line, where)
    if len(items) != 3:
        raise PlanError(f"{where}: an id map line is [inside, outside, count]")
    inside, outside, count = (_int(v, where) for v in items)
    return (inside, outside, count)
