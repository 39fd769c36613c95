"""``SandboxPolicy``: what the executor asks of every host's sandbox.

Plain data (no I/O) so ``ExecutorConfig`` can hold it. The default is the
whole sandbox: a dedicated unprivileged uid per action, a private read-only
view of the file system with a size-limited private /tmp, a pid namespace,
the ``egress`` network policy, a process limit, Landlock scopes and seccomp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Every mechanism ``sandbox check`` reports and ``required`` may name.
MECHANISMS = (
    "identity",
    "filesystem",
    "pid_namespace",
    "process_limit",
    "network_none",
    "network_egress",
    "seccomp",
    "landlock",
    "no_new_privs",
)
NETWORK_POLICIES = ("none", "egress", "host")


@dataclass(frozen=True)
class SandboxPolicy:
    #: False turns the whole sandbox off (the host runs as the executor's user).
    enabled: bool = True
    #: "none": a private loopback only; "egress": outbound, never to this host's
    #: loopback services (Mistral's std.http, std.ssh... need outbound);
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
    #: Processes and threads one action may have (RLIMIT_NPROC of its own uid).
    max_processes: int = 256
    #: Actions run as uids first..first+count-1, one per host in turn; give each
    #: executor on a machine its own range.
    uid_range: tuple[int, int] = (200000, 65536)
    seccomp: bool = True
    landlock: bool = True
    #: Mechanisms (names in ``MECHANISMS``) without which the executor refuses
    #: to run actions; others that are unavailable only give a warning.
    required: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.network not in NETWORK_POLICIES:
            raise ValueError(
                f"sandbox network policy {self.network!r} is not one of {NETWORK_POLICIES}"
            )
        unknown = [m for m in self.required if m not in MECHANISMS]
        if unknown:
            raise ValueError(f"unknown sandbox mechanism(s) {unknown}; known: {MECHANISMS}")
        if self.uid_range[1] < 1 or self.uid_range[0] < 1:
            raise ValueError(f"sandbox uid_range {self.uid_range} must be (first >= 1, count >= 1)")
