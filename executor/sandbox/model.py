"""``SandboxPolicy``: what the executor asks of every host's sandbox.

Plain data (no I/O) so ``ExecutorConfig`` can hold it. The default is the
whole sandbox: a user namespace per template with its own uid per action, a
private read-only view of the file system with a size-limited private /tmp,
a pid namespace, the ``egress`` network policy, a cgroup per action (memory,
processes, a CPU share), Landlock scopes and seccomp. Every mechanism the
policy asks for must be available, or the executor refuses to start and
names the option that lowers the policy (docs/security.md).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

#: Every mechanism ``sandbox check`` reports and a policy may ask for.
MECHANISMS = (
    "user_namespace",
    "identity",
    "filesystem",
    "pid_namespace",
    "limits",
    "network_none",
    "network_egress",
    "seccomp",
    "landlock",
    "no_new_privs",
)
NETWORK_POLICIES = ("none", "egress", "host")
#: From the strictest to the widest.
_NETWORK_ORDER = {"none": 0, "egress": 1, "host": 2}


@dataclass(frozen=True)
class SandboxPolicy:
    #: False turns the sandbox off: hosts run as the executor's user, with
    #: no_new_privs and seccomp only (said loudly at start).
    enabled: bool = True
    #: "none": a private loopback only; "egress": outbound, never to this host
    #: (its addresses, loopback, link-local metadata) and no server sockets;
    #: "host": the host's network as it is.
    network: str = "egress"
    #: Own mount namespace: system and environment read-only, a private tmpfs
    #: /tmp holding the working directory, state dir, homes and /run hidden.
    private_filesystem: bool = True
    #: Own pid namespace and /proc: sees no other process; everything it starts
    #: dies with it.
    pid_namespace: bool = True
    #: Bytes of the private /tmp (working directory included): the action's disk.
    tmpfs_size: int = 256 * 1024**2
    #: Processes and threads of one action: RLIMIT_NPROC of its own uid and,
    #: with the other cgroup limits, its cgroup's pids.max. None: no limit.
    max_processes: int | None = 256
    #: Bytes of memory of one action: every process of it, its /tmp and memfd
    #: pages (its cgroup's memory.max). None: no limit.
    memory_limit: int | None = 1024**3
    #: The action's share of the CPU against other actions (cgroup cpu.weight,
    #: 1..10000; 100 is the kernel's default). None: not set.
    cpu_weight: int | None = 100
    #: CPUs one action may use at most (cgroup cpu.max), e.g. 1.0. None: no cap.
    cpu_max: float | None = None
    #: Each action runs as a uid and gid of its own, from a block leased
    #: machine-wide (needs CAP_SETUID/CAP_SETGID, or subordinate ids).
    per_action_uid: bool = True
    #: Where leased blocks of ids start, and how many ids a block holds; each
    #: executor on a machine leases a block of its own.
    uid_range: tuple[int, int] = (200000, 65536)
    #: Ids one template holds (itself, then one per action running at once).
    uids_per_template: int = 2048
    #: ``egress`` only: networks refused on top of this host and link-local.
    egress_deny: tuple[str, ...] = ()
    #: ``egress`` only: when set, actions reach these networks and nothing else.
    egress_allow: tuple[str, ...] = ()
    seccomp: bool = True
    landlock: bool = True
    #: Kept for configurations written before every mechanism a policy asks
    #: for was required; naming one here changes nothing.
    required: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.network not in NETWORK_POLICIES:
            raise ValueError(
                f"sandbox network policy {self.network!r} is not one of {NETWORK_POLICIES}"
            )
        unknown = [m for m in self.required if m not in MECHANISMS]
        if unknown:
            raise ValueError(f"unknown sandbox mechanism(s) {unknown}; known: {MECHANISMS}")
        if self.uid_range[1] < 2 or self.uid_range[0] < 1:
            raise ValueError(f"sandbox uid_range {self.uid_range} must be (first >= 1, count >= 2)")
        if not 2 <= self.uids_per_template <= self.uid_range[1]:
            raise ValueError(
                f"sandbox uids_per_template {self.uids_per_template} must be between 2 and "
                f"the block's size {self.uid_range[1]}"
            )
        if self.cpu_weight is not None and not 1 <= self.cpu_weight <= 10000:
            raise ValueError(f"sandbox cpu_weight {self.cpu_weight} must be 1..10000")
        for what, nets in (("egress_deny", self.egress_deny), ("egress_allow", self.egress_allow)):
            check_networks(f"sandbox {what}", nets)

    def stricter(self, other: SandboxPolicy) -> SandboxPolicy:
        """The policy that gives away nothing either gives away: a nested run
        takes the stricter of its own environment's policy and its caller's."""
        if not self.enabled:
            return other
        if not other.enabled:
            return self

        def least(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)

        def least_f(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        allow = _narrower_allow(self.egress_allow, other.egress_allow)
        return dataclasses.replace(
            self,
            network=min(self.network, other.network, key=_NETWORK_ORDER.__getitem__),
            private_filesystem=self.private_filesystem or other.private_filesystem,
            pid_namespace=self.pid_namespace or other.pid_namespace,
            tmpfs_size=min(self.tmpfs_size, other.tmpfs_size),
            max_processes=least(self.max_processes, other.max_processes),
            memory_limit=least(self.memory_limit, other.memory_limit),
            cpu_weight=least(self.cpu_weight, other.cpu_weight),
            cpu_max=least_f(self.cpu_max, other.cpu_max),
            per_action_uid=self.per_action_uid or other.per_action_uid,
            egress_deny=tuple(dict.fromkeys((*self.egress_deny, *other.egress_deny))),
            egress_allow=allow,
            seccomp=self.seccomp or other.seccomp,
            landlock=self.landlock or other.landlock,
        )


def check_networks(what: str, cidrs: Iterable[str]) -> None:
    """Refuse the first value that is not a network, naming ``what`` holds it."""
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(
                f"{what}: {cidr!r} is not a network in CIDR notation "
                "(e.g. 10.0.0.0/8 or 2001:db8::/32)"
            ) from None


#: An allow list that lets nothing through (both are refused anyway).
NOTHING = ("0.0.0.0/32", "::/128")


def _narrower_allow(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    """What both allow lists allow (an empty list allows everything)."""
    if not a or not b:
        return a or b
    nets_a = [ipaddress.ip_network(n, strict=False) for n in a]
    nets_b = [ipaddress.ip_network(n, strict=False) for n in b]
    both = [
        str(x)
        for xs, ys in ((nets_a, nets_b), (nets_b, nets_a))
        for x in xs
        if any(x.version == y.version and x.subnet_of(y) for y in ys)  # type: ignore[arg-type]
    ]
    return tuple(dict.fromkeys(both)) or NOTHING
