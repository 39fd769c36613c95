"""What a host gets instead of the executor's world, as the executor decides it.

Per action: a working directory, a clean environment (none of the executor's
variables, credentials or open files leak in) and a cgroup of its own; per
template, the ``SandboxSpec`` its children apply (``runtime.Confinement``).
Credentials reach the action only through its context.

Before an executor starts it finds out what this machine lets it enforce
(``probe_results``: the probe runs once per process) and refuses every
policy it cannot enforce in full (``check_available``), naming the option
that lowers the policy: an executor that would fail every action, or run
them more openly than configured, never starts.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from typing import Literal

from executor.environments.model import Environment
from executor.errors import ErrorKind, ExecutorError
from executor.layout import StateLayout
from executor.sandbox.cgroups import Slot
from executor.sandbox.model import SandboxPolicy

log = logging.getLogger(__name__)

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Inside a private file system view (see action_host.sandbox.WORKDIR).
PRIVATE_WORKDIR = "/tmp/work"

#: mechanism -> (what is weaker without it, how to get it, the option that lowers the policy)
CONSEQUENCES = {
    "user_namespace": (
        "no namespace can be made: plugin code would run with the executor's rights",
        "allow user namespaces (sysctl user.max_user_namespaces > 0; on Ubuntu "
        "kernel.apparmor_restrict_unprivileged_userns = 0 or an AppArmor profile)",
        "[action_executor] sandbox = false (SandboxPolicy(enabled=False))",
    ),
    "identity": (
        "every action runs as one id, the executor's own, in its user namespace",
        "give the executor CAP_SETUID and CAP_SETGID (the systemd unit does), or "
        "subordinate ids (usermod --add-subuids/--add-subgids, package uidmap)",
        "[sandbox] per_action_uid = false",
    ),
    "filesystem": (
        "actions see the whole file system with their id's rights and share /tmp",
        "allow mount namespaces in user namespaces",
        "[sandbox] private_filesystem = false",
    ),
    "pid_namespace": (
        "actions see other processes and a setsid daemon outlives its action",
        "allow pid namespaces in user namespaces",
        "[sandbox] pid_namespace = false",
    ),
    "limits": (
        "no memory, process or CPU limit per action: one action can exhaust the machine",
        "run as root, or give the executor a cgroup v2 subtree of its own (systemd: Delegate=yes)",
        "[sandbox] memory_limit = 0, cpu_weight = 0 (max_processes then limits each "
        "action's uid with RLIMIT_NPROC alone)",
    ),
    "network_none": (
        "the 'none' network policy cannot be applied",
        "allow network namespaces in user namespaces",
        "[sandbox] network = egress or host",
    ),
    "network_egress": (
        "under 'egress' actions could reach this host's services and the metadata service",
        "give the executor CAP_BPF and CAP_NET_ADMIN (the systemd unit does) and a "
        "cgroup v2 hierarchy",
        "[sandbox] network = none (no network) or host (the host's network as it is)",
    ),
    "seccomp": (
        "no system call filter (ptrace, mount, bpf, keyctl, ... stay callable)",
        "use a kernel with CONFIG_SECCOMP_FILTER on x86_64 or aarch64",
        "[sandbox] seccomp = false",
    ),
    "landlock": (
        "actions may signal processes and reach abstract unix sockets outside their sandbox",
        "boot Linux >= 6.12 with Landlock in the lsm= list",
        "[sandbox] landlock = false",
    ),
    "no_new_privs": ("setuid programs could raise an action's privileges", "-", "-"),
}


class SandboxUnavailable(ExecutorError, RuntimeError):
    """The policy asks for a mechanism this machine does not give this executor."""

    kind = ErrorKind.HOST_START_FAILED


def wanted(policy: SandboxPolicy) -> list[str]:
    """The mechanisms ``policy`` asks for."""
    if not policy.enabled:
        return []
    out = ["user_namespace", "no_new_privs"]
    out += ["identity"] if policy.per_action_uid else []
    out += ["filesystem"] if policy.private_filesystem else []
    out += ["pid_namespace"] if policy.pid_namespace else []
    if policy.memory_limit or policy.cpu_weight or policy.cpu_max:
        out.append("limits")  # max_processes alone is RLIMIT_NPROC of the action's uid
    out += {"none": ["network_none"], "egress": ["network_egress"], "host": []}[policy.network]
    out += ["seccomp"] if policy.seccomp else []
    out += ["landlock"] if policy.landlock else []
    return out


def run_probe(first: int = 200000, count: int = 65536) -> dict[str, tuple[bool, str]]:
    """``executor.sandbox.probe`` in a fresh interpreter (it forks)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {"PATH": SAFE_PATH, "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, "-m", "executor.sandbox.probe", str(first), str(count)],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the sandbox probe failed: {out.stderr.strip()[-2000:]}")
    return {k: (bool(v[0]), str(v[1])) for k, v in json.loads(out.stdout).items()}


_lock = threading.Lock()
_probed: dict[tuple[int, int], dict[str, tuple[bool, str]]] = {}
_PR_SET_DUMPABLE = 4


def probe_results(first: int = 200000, count: int = 65536) -> dict[str, tuple[bool, str]]:
    """The probe, once per process (and uid range); the executor becomes
    non-dumpable first: no process of its user reads its memory."""
    with _lock:
        if (first, count) not in _probed:
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
            _probed[(first, count)] = run_probe(first, count)
        return dict(_probed[(first, count)])


def refusals(policy: SandboxPolicy, available: dict[str, tuple[bool, str]]) -> list[str]:
    """One line per mechanism ``policy`` asks for that is missing here."""
    lines = []
    for m in wanted(policy):
        ok, why = available.get(m, (False, "not probed"))
        if not ok:
            _weaker, how, lower = CONSEQUENCES[m]
            lines.append(f"{m}: {why}. To enable it: {how}. Or lower the policy: {lower}")
    return lines


def check_available(policy: SandboxPolicy, available: dict[str, tuple[bool, str]]) -> None:
    """Raises ``SandboxUnavailable`` naming each missing mechanism, once, here."""
    lines = refusals(policy, available)
    if lines:
        raise SandboxUnavailable(
            "the sandbox policy cannot be enforced on this machine, so the executor does "
            "not start:\n  - " + "\n  - ".join(lines)
        )


def network_of(policy: str) -> Literal["none", "egress", "host"]:
    if policy == "none":
        return "none"
    if policy == "egress":
        return "egress"
    return "host"


def sweep_workdirs(work: str) -> None:
    """Remove working directories of executors that are no longer running."""
    try:
        names = os.listdir(work)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "action" or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(work, name), ignore_errors=True)


class Sandbox:
    """A host's working directory, environment variables and cgroup."""

    def __init__(
        self,
        workdir: str,
        environ: dict[str, str],
        host_dir: str | None = None,
        start_dir: str | None = None,
        slot: Slot | None = None,
        uid: int | None = None,
    ) -> None:
        #: the working directory as the action sees it
        self.workdir = workdir
        self.environ = environ
        #: the directory on disk to remove afterwards (None: a private tmpfs)
        self.host_dir = host_dir
        #: where a spawned host starts (it must exist outside the sandbox)
        self.start_dir = start_dir or workdir
        #: the action's own cgroup (its limits, and its usage for the Result)
        self.slot = slot
        #: its uid in its template's user namespace (None: none of its own)
        self.uid = uid
        self._on_cleanup: list[object] = []

    @classmethod
    def create(
        cls,
        env: Environment,
        layout: StateLayout,
        private: bool,
        slot: Slot | None = None,
        uid: int | None = None,
    ) -> Sandbox:
        """A fresh sandbox: a private tmpfs working directory when the file
        system is private, else a new directory under ``layout.work``."""
        if private:
            environ = host_environ(env, home=PRIVATE_WORKDIR, cache_dir="/tmp/.cache")
            environ["TMPDIR"] = "/tmp"
            return cls(PRIVATE_WORKDIR, environ, None, start_dir="/tmp", slot=slot, uid=uid)
        os.makedirs(layout.work, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix=f"action-{os.getpid()}-", dir=layout.work)
        return cls(
            workdir,
            host_environ(env, home=workdir, cache_dir=layout.cache),
            workdir,
            slot=slot,
            uid=uid,
        )

    def on_cleanup(self, callback: object) -> None:
        self._on_cleanup.append(callback)

    def cleanup(self) -> None:
        if self.host_dir is not None:
            shutil.rmtree(self.host_dir, ignore_errors=True)
        callbacks, self._on_cleanup = self._on_cleanup, []
        for callback in callbacks:
            callback()  # type: ignore[operator]


def host_environ(env: Environment, *, home: str, cache_dir: str) -> dict[str, str]:
    environ = {
        # The environment's own bin first (its console scripts), then the
        # directories its settings add, then the system's.
        "PATH": env.search_path(SAFE_PATH),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # What the actions' libraries cache (XDG_CACHE_HOME); shared so it stays warm.
        "XDG_CACHE_HOME": cache_dir,
    }
    if env.extra_paths:
        environ["PYTHONPATH"] = os.pathsep.join(env.extra_paths)
    # The environment's own variables; PATH, HOME and TMPDIR stay the sandbox's.
    environ.update(
        {k: v for k, v in env.settings.environ.items() if k not in ("PATH", "HOME", "TMPDIR")}
    )
    return environ
