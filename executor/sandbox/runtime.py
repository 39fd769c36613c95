"""``SandboxRuntime``: one executor's means to start confined processes.

Started once per executor (``start``): it probes this machine, refuses a
policy it cannot enforce (naming the option that lowers it), leases a block
of ids machine-wide (``ids``), creates the executor's cgroups (``cgroups``)
and follows this host's addresses for the ``egress`` hooks (``egress``).

Every process that runs plugin code gets a ``Confinement`` (``confine``): a
slice of the ids, a cgroup unit, the egress hooks on it, the launcher's plan
(``protocol.launch_plan``) and the children's ``SandboxSpec``, see
``confinement.py``. It is released (``release``) once that process is gone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from collections.abc import Iterable

from executor.environments.model import Environment
from executor.layout import StateLayout
from executor.sandbox import addresses, cgroups, egress, ids
from executor.sandbox.confinement import Command, Confinement
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.policy import (
    SandboxUnavailable,
    check_available,
    network_of,
    probe_results,
)
from executor.sandbox.view import exposed_under_tmp, view_for
from protocol.launch_plan import UserNamespacePlan
from protocol.messages import SandboxSpec

log = logging.getLogger(__name__)

#: What each kind of confined process is: a template forks many actions; a
#: spawned host and an inspect are one action each.
PURPOSES = ("template", "spawn", "inspect")


def limits_of(policy: SandboxPolicy) -> cgroups.Limits:
    return cgroups.Limits(
        memory=policy.memory_limit or None,
        processes=policy.max_processes or None,
        cpu_weight=policy.cpu_weight or None,
        cpu_max=policy.cpu_max or None,
    )


class SandboxRuntime:
    def __init__(self, layout: StateLayout, hide: Iterable[str] = ()) -> None:
        self.layout = layout
        #: hidden from every host besides the defaults: the state dir, config files
        self.hide = tuple(hide)
        self._lock = threading.Lock()
        self._started = False
        self._available: dict[str, tuple[bool, str]] = {}
        self._source: ids.IdSource | None = None
        self._lease: ids.Lease | None = None
        self._slices: ids.Slices | None = None
        self._tree: cgroups.Tree | None = None
        self._egress_units: dict[str, SandboxPolicy] = {}
        self._addresses: set[addresses.IPAddress] = set()
        self._watcher: addresses.AddressWatcher | None = None

    # -- lifecycle --------------------------------------------------------------

    def start(self, policies: Iterable[SandboxPolicy]) -> None:
        """Probe, refuse what cannot be enforced, lease, make the cgroups.

        Raises ``SandboxUnavailable`` naming every mechanism that is missing
        and the option that lowers the policy. Idempotent.
        """
        policies = list(policies)
        with self._lock:
            if self._started:
                return
            enabled = [p for p in policies if p.enabled]
            for policy in policies:
                if not policy.enabled:
                    _warn_off(policy)
            if enabled:
                self._check_and_lease(enabled)
                self._create_tree(enabled)
                if any(p.network == "egress" for p in enabled):
                    self._addresses = addresses.local_addresses()
                    self._watcher = addresses.AddressWatcher(self._on_addresses)
                    self._watcher.start()
            self._started = True

    def _check_and_lease(self, enabled: list[SandboxPolicy]) -> None:
        """Refuse a policy this machine cannot enforce, then lease the ids
        (never an id of the executor's own). The caller holds the lock."""
        first, count = enabled[0].uid_range
        self._available = probe_results(first, count)
        for policy in enabled:
            check_available(policy, self._available)
        self._source = ids.id_source(first, count)
        if self._source.writer != "self":
            try:
                self._lease = ids.lease(self._source)
            except ids.NoIdsLeft as exc:
                raise SandboxUnavailable(str(exc)) from None
            self._slices = ids.Slices(self._lease.count)

    def _create_tree(self, enabled: list[SandboxPolicy]) -> None:
        """The executor's cgroups, with every controller some policy's limits
        need (and cgroup v2 for egress hooks). The caller holds the lock."""
        wanted = [limits_of(p) for p in enabled]
        need_egress = any(p.network == "egress" for p in enabled)
        need_limits = any(lim.memory or lim.cpu_weight or lim.cpu_max for lim in wanted)
        if not (need_limits or need_egress):
            # No limit asked for: still a cgroup per template and action
            # where cgroup v2 lets us (each apart from the executor's,
            # its CPU time counted); none is no refusal.
            try:
                self._tree = cgroups.Tree.create(cgroups.Limits(), need_v2=True)
            except OSError:
                self._tree = None
            return
        union = cgroups.Limits(
            memory=1 if any(lim.memory for lim in wanted) else None,
            # pids.max with the other limits; alone, RLIMIT_NPROC suffices
            processes=1 if need_limits and any(lim.processes for lim in wanted) else None,
            cpu_weight=100 if any(lim.cpu_weight or lim.cpu_max for lim in wanted) else None,
        )
        try:
            self._tree = cgroups.Tree.create(union, need_v2=need_egress)
        except OSError as exc:
            raise SandboxUnavailable(
                f"the sandbox's limits or egress hooks cannot be set up: {exc}. " + _LOWER_LIMITS
            ) from None

    def close(self) -> None:
        with self._lock:
            watcher, self._watcher = self._watcher, None
            tree, self._tree = self._tree, None
            lease, self._lease = self._lease, None
            self._started = False
        if watcher is not None:
            watcher.stop()
        if tree is not None:
            tree.remove()
        if lease is not None:
            lease.release()

    # -- confinements -------------------------------------------------------------

    def confine(self, env: Environment, policy: SandboxPolicy, purpose: str) -> Confinement:
        """Everything one process of ``purpose`` (``PURPOSES``) needs, made now."""
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}")
        if purpose == "inspect":
            policy = self.for_inspect(policy)
        self.start([policy])
        if not policy.enabled:
            spec = _OFF_SPEC.model_copy(update={"landlock": policy.landlock and _landlock_scopes()})
            return Confinement(self, policy, purpose, spec, None, None, None, None)
        network = "none" if purpose == "inspect" else policy.network
        size = policy.uids_per_template if purpose == "template" else 2
        userns, uids, slice_start = self._user_namespace(policy, size)
        view = (
            view_for(env, (self.layout.state_dir, *self.hide))
            if policy.private_filesystem
            else None
        )
        unit = None
        limits = limits_of(policy)
        if self._tree is not None and not self._tree.has("pids"):
            limits = dataclasses.replace(limits, processes=None)  # RLIMIT_NPROC alone
        if self._tree is not None:
            unit = self._tree.unit(limits)
            if network == "egress":
                self._attach_egress(unit, policy)
        spec = SandboxSpec(
            network=network_of(network),
            private_filesystem=policy.private_filesystem,
            tmpfs_size=policy.tmpfs_size,
            pid_namespace=policy.pid_namespace,
            max_processes=policy.max_processes if uids > 1 else None,
            seccomp=policy.seccomp,
            landlock=policy.landlock,
            devpts=policy.private_filesystem,
            isolated=True,
            uids=uids,
            tmp_exposed=exposed_under_tmp(view) if view is not None else [],
        )
        return Confinement(self, policy, purpose, spec, userns, view, unit, slice_start)

    def for_inspect(self, policy: SandboxPolicy) -> SandboxPolicy:
        """Listing an environment's actions (an install's check, an index
        refresh) runs its import-time code with no network at all, and within
        the cgroup limits and ids this process has: an operator runs
        ``action-executor install`` from a shell as the service's user,
        without the unit's delegated cgroup and capabilities (the build
        before it already ran the plugin's build code as that user), and a
        listing is short (it has a timeout)."""
        if not policy.enabled:
            return policy
        narrowed = dataclasses.replace(policy, network="none")
        first, count = policy.uid_range
        available = self._available or probe_results(first, count)
        if not available.get("limits", (False, ""))[0]:
            narrowed = dataclasses.replace(
                narrowed, memory_limit=None, cpu_weight=None, cpu_max=None
            )
        if not available.get("identity", (False, ""))[0]:
            narrowed = dataclasses.replace(narrowed, per_action_uid=False)
        return narrowed

    def _user_namespace(
        self, policy: SandboxPolicy, size: int
    ) -> tuple[UserNamespacePlan, int, int | None]:
        """(plan, ids in the inner namespace, slice start to give back)."""
        euid, egid = os.geteuid(), os.getegid()
        lease, slices, source = self._lease, self._slices, self._source
        if lease is None or slices is None or source is None:  # only our own id
            one = ((0, 0, 1),)
            return UserNamespacePlan(((0, euid, 1),), ((0, egid, 1),), one, one, "self"), 1, None
        size = size if policy.per_action_uid else 1
        start = slices.take(size)
        inner = ((0, start, size),)
        outer_u = ((0, euid, 1), (1, lease.uid, lease.count))
        outer_g = ((0, egid, 1), (1, lease.gid, lease.count))
        return UserNamespacePlan(outer_u, outer_g, inner, inner, source.writer), size, start

    def _attach_egress(self, unit: cgroups.Unit, policy: SandboxPolicy) -> None:
        directory = unit.egress_dir()
        if directory is None:
            raise SandboxUnavailable("egress needs a cgroup v2 hierarchy, and there is none")
        egress.attach(directory, self._rules(policy))
        with self._lock:
            self._egress_units[directory] = policy

    def _rules(self, policy: SandboxPolicy) -> egress.Rules:
        return egress.Rules.build(
            self._addresses,
            deny=policy.egress_deny,
            allow=policy.egress_allow,
            resolvers=egress.resolv_conf_servers(),
        )

    def _on_addresses(self, found: set[addresses.IPAddress]) -> None:
        with self._lock:
            self._addresses = found
            units = dict(self._egress_units)
        for directory, policy in units.items():
            try:
                egress.attach(directory, self._rules(policy))
            except OSError as exc:  # the unit went away meanwhile
                log.debug("egress hooks of %s not updated: %s", directory, exc)
        log.info("egress hooks updated: this host has %d addresses now", len(found))

    def take_back(self, confinement: Confinement) -> None:
        """What ``confinement`` held (``Confinement.release`` calls it, once)."""
        if confinement.unit is not None:
            directory = confinement.unit.egress_dir()
            with self._lock:
                if directory is not None:
                    self._egress_units.pop(directory, None)
            confinement.unit.remove()
        if confinement.slice_start is not None and self._slices is not None:
            self._slices.give_back(confinement.slice_start)

    # -- what tests and the CLI read ----------------------------------------------

    @property
    def available(self) -> dict[str, tuple[bool, str]]:
        return dict(self._available)

    @property
    def lease(self) -> ids.Lease | None:
        return self._lease

    def describe(self) -> str:
        return json.dumps({k: v[0] for k, v in self._available.items()})


def _landlock_scopes() -> bool:
    """Landlock with signal and abstract-socket scopes (ABI 6) here?"""
    import ctypes

    if os.uname().machine not in ("x86_64", "aarch64"):
        return False
    abi = ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1)  # landlock_create_ruleset
    return int(abi) >= 6


#: A sandbox that is off keeps what needs no privilege and costs nothing:
#: no_new_privs, seccomp, and Landlock's scopes where the kernel has them.
_OFF_SPEC = SandboxSpec(
    network="host",
    private_filesystem=False,
    pid_namespace=False,
    max_processes=None,
    seccomp=True,
    landlock=False,
    devpts=False,
    isolated=False,
    uids=1,
)

_LOWER_LIMITS = (
    "Give the executor a cgroup it may manage (root, or systemd's Delegate=yes), or "
    "lower the policy: [sandbox] memory_limit = 0, cpu_weight = 0, cpu_max = 0 "
    "(and network = none or host instead of egress)"
)

_warned_off: set[int] = set()


def _warn_off(policy: SandboxPolicy) -> None:
    if id(policy) in _warned_off:
        return
    _warned_off.add(id(policy))
    log.warning(
        "the sandbox is OFF ([action_executor] sandbox = false): actions run as this "
        "executor's user (uid %d), see and may change everything it can (its state "
        "directory, its configuration, other environments), reach every service of this "
        "host and live beyond their run; only no_new_privs, the seccomp filter and "
        "Landlock's signal and abstract-socket scopes remain",
        os.geteuid(),
    )


__all__ = ["PURPOSES", "Command", "Confinement", "SandboxRuntime", "limits_of"]
