"""What a host gets instead of the executor's world, as the executor decides it.

Per action: a working directory, a clean environment (none of the executor's
variables, credentials or open files leak in) and the ``SandboxSpec`` the host
applies to itself before any action code runs (see ``action_host.sandbox``
and docs/security.md). Credentials reach the action only through its context.

The first host an executor starts resolves the policy once (``startup``):
it probes what this kernel and user allow, sets up the egress cgroup, makes
the executor itself non-dumpable, removes working directories a dead
executor left behind, and warns about (or, when ``required``, refuses) every
mechanism that is unavailable.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import Literal

from executor.environments.model import Environment
from executor.layout import StateLayout
from executor.sandbox import egress
from executor.sandbox.model import SandboxPolicy
from protocol.messages import SandboxSpec

log = logging.getLogger(__name__)

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
#: Inside a private file system view (see action_host.sandbox.WORKDIR).
PRIVATE_WORKDIR = "/tmp/work"
_PR_SET_DUMPABLE = 4

#: mechanism -> (what is weaker without it, how to get it)
CONSEQUENCES = {
    "identity": (
        "actions run as the executor's own user",
        "run the executor as root (it then gives each action its own uid)",
    ),
    "filesystem": (
        "actions see the whole file system with the executor's rights and share /tmp",
        "allow mount namespaces (root, or unprivileged user namespaces)",
    ),
    "pid_namespace": (
        "actions see other processes and a setsid daemon outlives its action",
        "allow pid namespaces (root, or unprivileged user namespaces)",
    ),
    "process_limit": (
        "no per-action process limit: a fork bomb can exhaust the machine",
        "run the executor as root (the limit is on each action's own uid)",
    ),
    "network_none": (
        "the 'none' network policy cannot be applied (hosts refuse to start)",
        "allow network namespaces",
    ),
    "network_egress": (
        "under 'egress' actions can reach this host's loopback services",
        "run as root with a cgroup v2 hierarchy mounted (BPF connect hooks)",
    ),
    "seccomp": (
        "no system call filter (ptrace, mount, bpf, keyctl, ... stay callable)",
        "use a kernel with CONFIG_SECCOMP_FILTER on x86_64 or aarch64",
    ),
    "landlock": (
        "actions may signal processes and reach abstract unix sockets outside their sandbox",
        "boot Linux >= 6.12 with Landlock in the lsm= list",
    ),
    "no_new_privs": ("setuid programs could raise an action's privileges", "-"),
}


class SandboxUnavailable(RuntimeError):
    """A mechanism the configuration requires is not available here."""


@dataclass(frozen=True)
class Resolved:
    """The policy as this machine can apply it."""

    policy: SandboxPolicy
    available: dict[str, tuple[bool, str]]
    egress_cgroup: str | None

    def has(self, mechanism: str) -> bool:
        return self.available.get(mechanism, (False, ""))[0]


def run_probe() -> dict[str, tuple[bool, str]]:
    """``executor.sandbox.probe`` in a fresh interpreter (it forks)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {"PATH": SAFE_PATH, "PYTHONPATH": root}
    out = subprocess.run(
        [sys.executable, "-m", "executor.sandbox.probe"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"the sandbox probe failed: {out.stderr.strip()[-2000:]}")
    return {k: (bool(v[0]), str(v[1])) for k, v in json.loads(out.stdout).items()}


def wanted(policy: SandboxPolicy) -> list[str]:
    """The mechanisms ``policy`` asks for."""
    if not policy.enabled:
        return []
    out = ["identity", "no_new_privs", "process_limit"]
    out += ["filesystem"] if policy.private_filesystem else []
    out += ["pid_namespace"] if policy.pid_namespace else []
    out += {"none": ["network_none"], "egress": ["network_egress"], "host": []}[policy.network]
    out += ["seccomp"] if policy.seccomp else []
    out += ["landlock"] if policy.landlock else []
    return out


_lock = threading.Lock()
_probed: dict[str, tuple[bool, str]] | None = None
_egress: str | None = None
_swept: set[str] = set()
_uids = itertools.count()


def startup(policy: SandboxPolicy, layout: StateLayout) -> Resolved:
    """Resolve ``policy`` on this machine (probe once per process); see the module doc."""
    global _probed, _egress
    with _lock:
        if _probed is None and policy.enabled:
            import ctypes

            ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # nobody reads our memory
            _probed = run_probe()
        if layout.work not in _swept:
            _swept.add(layout.work)
            sweep_workdirs(layout.work)
        available = dict(_probed or {})
        if (
            policy.enabled
            and policy.network == "egress"
            and available.get("network_egress", (0,))[0]
        ):
            if _egress is None:
                try:
                    _egress = egress.setup()
                except OSError as exc:
                    if _probed is not None:
                        _probed["network_egress"] = (False, str(exc))
                    available["network_egress"] = (False, str(exc))
    missing = [m for m in wanted(policy) if not available.get(m, (False, ""))[0]]
    refused = [m for m in missing if m in policy.required]
    if refused:
        raise SandboxUnavailable(
            "the sandbox configuration requires "
            + "; ".join(f"{m} ({available.get(m, (False, 'not probed'))[1]})" for m in refused)
            + ". Fix that, or remove them from the sandbox's required mechanisms"
        )
    for m in missing:
        weaker, how = CONSEQUENCES[m]
        _warn_once(
            m,
            f"sandbox: {m} is unavailable ({available.get(m, (False, '?'))[1]}): "
            f"{weaker}; to enable it: {how}",
        )
    return Resolved(policy, available, _egress if policy.network == "egress" else None)


_warned: set[str] = set()


def _warn_once(key: str, text: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("%s", text)


def _network(policy: str, egress_cgroup: str | None) -> Literal["none", "egress", "host"]:
    """The policy a host applies: ``egress`` without its cgroup falls back to ``host``
    (startup warned about it)."""
    if policy == "none":
        return "none"
    if policy == "egress" and egress_cgroup:
        return "egress"
    return "host"


def spec_for(resolved: Resolved, layout: StateLayout) -> SandboxSpec | None:
    """The spec one host applies; a fresh uid from the range each time."""
    policy = resolved.policy
    if not policy.enabled:
        return None
    first, count = policy.uid_range
    uid = first + next(_uids) % count if resolved.has("identity") else None
    if policy.network == "none" and not resolved.has("network_none"):
        raise SandboxUnavailable(
            "the 'none' network policy needs network namespaces, which are unavailable here"
        )
    return SandboxSpec(
        uid=uid,
        network=_network(policy.network, resolved.egress_cgroup),
        egress_cgroup=resolved.egress_cgroup,
        private_filesystem=policy.private_filesystem and resolved.has("filesystem"),
        hide=[os.path.realpath(layout.state_dir)],
        tmpfs_size=policy.tmpfs_size,
        pid_namespace=policy.pid_namespace and resolved.has("pid_namespace"),
        max_processes=policy.max_processes if uid is not None else None,
        seccomp=policy.seccomp and resolved.has("seccomp"),
        landlock=policy.landlock and resolved.has("landlock"),
    )


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
    """A host's working directory, environment variables and sandbox spec."""

    def __init__(
        self,
        workdir: str,
        environ: dict[str, str],
        spec: SandboxSpec | None = None,
        host_dir: str | None = None,
        start_dir: str | None = None,
    ) -> None:
        #: the working directory as the action sees it
        self.workdir = workdir
        self.environ = environ
        self.spec = spec
        #: the directory on disk to remove afterwards (None: a private tmpfs)
        self.host_dir = host_dir
        #: where a spawned host starts (it must exist outside the sandbox)
        self.start_dir = start_dir or workdir

    @classmethod
    def create(
        cls, env: Environment, layout: StateLayout, policy: SandboxPolicy | None = None
    ) -> Sandbox:
        """A fresh sandbox: a private tmpfs working directory when the file
        system is private, else a new directory under ``layout.work``."""
        policy = policy if policy is not None else SandboxPolicy()
        resolved = startup(policy, layout)
        spec = spec_for(resolved, layout)
        if spec is not None and spec.private_filesystem:
            environ = host_environ(env, home=PRIVATE_WORKDIR, cache_dir="/tmp/.cache")
            environ["TMPDIR"] = "/tmp"
            os.makedirs(layout.work, exist_ok=True)
            return cls(PRIVATE_WORKDIR, environ, spec, None, start_dir=layout.work)
        os.makedirs(layout.work, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix=f"action-{os.getpid()}-", dir=layout.work)
        if spec is not None and spec.uid is not None:
            os.chown(workdir, spec.uid, spec.uid)
        return cls(workdir, host_environ(env, home=workdir, cache_dir=layout.cache), spec, workdir)

    def cleanup(self) -> None:
        if self.host_dir is not None:
            shutil.rmtree(self.host_dir, ignore_errors=True)


def host_environ(env: Environment, *, home: str, cache_dir: str) -> dict[str, str]:
    environ = {
        # The environment's own bin first (its console scripts), then the
        # directories its settings add, then the system's.
        "PATH": env.search_path(SAFE_PATH),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # stevedore keeps its entry-point cache here; shared so it stays warm.
        "XDG_CACHE_HOME": cache_dir,
    }
    if env.extra_paths:
        environ["PYTHONPATH"] = os.pathsep.join(env.extra_paths)
    # The environment's own variables; PATH, HOME and TMPDIR stay the sandbox's.
    environ.update(
        {k: v for k, v in env.settings.environ.items() if k not in ("PATH", "HOME", "TMPDIR")}
    )
    return environ
