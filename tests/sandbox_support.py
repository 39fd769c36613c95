"""Executors as operators deploy them: as root, as a service user with the
capabilities our systemd unit grants, and as a plain user (rootless).

``deployed(kind, launcher, policy)`` returns an executor to drive: root's is
in this process; the others run in ``tests/remote_executor.py`` as their
user, from a world-readable install of this checkout
(``deployments.world_readable_install``), with the test plugins copied where
that user can read them and a cgroup delegated to it, as systemd's
``Delegate=yes`` does.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from deployments import as_user, ensure_user, session_dir, world_readable_install
from helpers import venv_bin
from remote import HARNESS, RemoteExecutor

from executor.sandbox import cgroups
from executor.sandbox.cgroups.directories import remove_tree

#: The user of our systemd unit's deployment, and the capabilities the unit grants.
SERVICE_USER = "mah-svc"
SERVICE_CAPS = ("setuid", "setgid", "bpf", "net_admin")
#: A plain user: no capability; subordinate ids of its own (/etc/subuid).
ROOTLESS_USER = "mah-rootless"
ROOTLESS_SUBIDS = (1_000_000, 262144)
#: A rootless executor leases blocks of this many of them: several at once.
ROOTLESS_BLOCK = 16384

DEPLOYMENTS = ("root", "service", "rootless")


def _lowered_here(kind: str) -> dict[str, Any]:
    """What ``kind`` cannot get on this machine, lowered explicitly (the
    executor refuses to start otherwise; each is a test of its own)."""
    lowered: dict[str, Any] = {}
    if kind == "rootless":  # no BPF without CAP_BPF and CAP_NET_ADMIN
        lowered["network"] = "none"
        lowered["uid_range"] = (ROOTLESS_SUBIDS[0], ROOTLESS_BLOCK)
    if kind == "rootless" and _v1_controllers():
        # cgroup v1 lets only an effective uid 0 move an action's processes into
        # its cgroup: the service user's CAP_SETUID can, a plain user cannot
        # (its processes stay limited: RLIMIT_NPROC of each action's own uid)
        lowered.update(memory_limit=None, cpu_weight=None, cpu_max=None)
    return lowered


@functools.cache
def _v1_controllers() -> bool:
    return any(
        h.version == 1 and h.controllers for h in cgroups.hierarchies(set(cgroups.CONTROLLERS))
    )


def lowered_here(kind: str) -> dict[str, Any]:
    return dict(_lowered_here(kind))


@functools.cache
def ensure_subordinate_ids(user: str, first: int, count: int) -> None:
    """``user`` owns ``count`` subordinate uids and gids from ``first``, and the
    setuid helpers that map them (Debian's uidmap) are installed."""
    ensure_user(user)
    for tool in ("newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            pytest.fail(
                f"{tool} is missing: rootless per-action uids need the uidmap package "
                "(make test installs it: tools/ensure-test-packages.sh)",
                pytrace=False,
            )
    for path in ("/etc/subuid", "/etc/subgid"):
        text = Path(path).read_text() if os.path.exists(path) else ""
        lines = [line for line in text.splitlines() if line.split(":")[0] != user]
        wanted = f"{user}:{first}:{count}"
        if wanted not in text.splitlines():
            Path(path).write_text("\n".join([*lines, wanted]) + "\n")


@functools.cache
def readable_plugins(site: str) -> str:
    """The test plugins where any user can read them."""
    target = session_dir() / f"plugins-{Path(site).name}-{abs(hash(site)) % 10**8}"
    shutil.copytree(site, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return str(target)


def delegated_cgroup(user: str, name: str) -> list[str]:
    """A cgroup of its own in every hierarchy, owned by ``user``: what systemd's
    ``Delegate=yes`` gives a unit. Returns the ``cgroup.procs`` files to join."""
    procs = []
    for h in cgroups.hierarchies(set(cgroups.CONTROLLERS)):
        directory = os.path.join(h.own_dir, name)
        os.makedirs(directory, exist_ok=True)
        entry = pwd.getpwnam(user)
        for path in [directory, *(os.path.join(directory, f) for f in os.listdir(directory))]:
            if os.path.basename(path) in ("", name) or os.path.basename(path).startswith(
                ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control", "tasks")
            ):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        procs.append(os.path.join(directory, "cgroup.procs"))
    return procs


def remove_cgroup(name: str) -> None:
    for h in cgroups.hierarchies(set(cgroups.CONTROLLERS)):
        remove_tree(os.path.join(h.own_dir, name))


class UserExecutor(RemoteExecutor):
    """A remote executor run as a user, in a cgroup delegated to it."""

    def __init__(self, kind: str, config: dict[str, Any], prefix: list[str] | None = None):
        user = SERVICE_USER if kind == "service" else ROOTLESS_USER
        caps = SERVICE_CAPS if kind == "service" else ()
        if kind == "rootless":
            ensure_subordinate_ids(user, *ROOTLESS_SUBIDS)
        ensure_user(user)
        entry = pwd.getpwnam(user)
        state = Path(config["state_dir"])
        state.mkdir(parents=True, exist_ok=True)
        os.chown(state, entry.pw_uid, entry.pw_gid)
        state.chmod(0o700)
        harness = session_dir() / "remote_executor.py"
        if not harness.exists():
            shutil.copy2(HARNESS, harness)
            harness.chmod(0o644)
        self.cgroup = f"mah-test-{user}-{os.getpid()}-{state.name}"
        joins = delegated_cgroup(user, self.cgroup)
        # join the delegated cgroups as root, then become the user
        enter = " && ".join(f"echo $$ > {p}" for p in joins) or "true"
        python = str(world_readable_install() / "bin" / "python")
        shell = ["sh", "-c", f'{enter} && exec "$@"', "sh"]
        config = {**config, "_harness": str(harness)}
        try:
            super().__init__(
                python,
                config,
                prefix=[*(prefix or []), *shell, *as_user(user, [], caps)],
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
            )
        except BaseException:
            remove_cgroup(self.cgroup)
            raise
        self.kind = kind

    def close(self) -> None:
        super().close()
        remove_cgroup(self.cgroup)


def deployed(
    kind: str,
    launcher: str,
    site: str | None,
    state: Path,
    remote: bool = False,
    prefix: list[str] | None = None,
    config: dict[str, Any] | None = None,
    lowered: bool = True,
    exact_state: bool = False,
    **policy: Any,
) -> Any:
    """An executor of deployment ``kind`` (``DEPLOYMENTS``); ``close()`` it.

    ``site``: the plugins on its default environment's path; ``config``: more
    ``ExecutorConfig`` fields; ``remote``: root's too runs in a process of its
    own (a test kills it); ``prefix``: its command runs behind this (e.g.
    entering a network namespace); ``lowered``: what this machine cannot give
    the deployment is lowered (``lowered_here``), else the policy is as given.
    """
    extra = dict(config or {})
    if kind == "root" and not remote and prefix is None:
        from executor import Executor, ExecutorConfig
        from executor.sandbox.model import SandboxPolicy

        local = ExecutorConfig(
            state_dir=str(state),
            launcher=launcher,
            extra_paths=(site,) if site else (),
            sandbox=SandboxPolicy(**policy),
            **extra,
        )
        return Executor(local).start()
    if kind == "root":
        remote_config = {
            "state_dir": str(state),
            "launcher": launcher,
            "extra_paths": [site] if site else [],
            "sandbox": policy,
            **extra,
        }
        return RemoteExecutor(sys.executable, remote_config, prefix=prefix, env=dict(os.environ))
    # its own state directory, where it may write (pytest's are root's, 0700)
    if not exact_state:
        state = session_dir() / f"state-{kind}-{launcher}-{state.name}-{uuid.uuid4().hex[:8]}"
    remote_config = {
        "state_dir": str(state),
        "launcher": launcher,
        "extra_paths": [readable_plugins(site)] if site else [],
        "sandbox": {**(lowered_here(kind) if lowered else {}), **policy},
        **extra,
    }
    return UserExecutor(kind, remote_config, prefix=prefix)


def owned_state_dir(kind: str) -> Path:
    """A state directory of ``kind``'s user (for commands run before its executor)."""
    user = SERVICE_USER if kind == "service" else ROOTLESS_USER
    ensure_user(user)
    state = session_dir() / f"state-{kind}-{uuid.uuid4().hex[:8]}"
    state.mkdir(mode=0o700)
    entry = pwd.getpwnam(user)
    os.chown(state, entry.pw_uid, entry.pw_gid)
    return state


def env_cli(kind: str, args: list[str]) -> None:
    """``action-executor ARGS`` as ``kind``'s user (root's from the test venv)."""
    if kind == "root":
        command = [venv_bin("action-executor"), *args]
        env = dict(os.environ)
    else:
        user = SERVICE_USER if kind == "service" else ROOTLESS_USER
        cache = session_dir() / f"uv-cache-{user}"
        cache.mkdir(exist_ok=True)
        entry = pwd.getpwnam(user)
        os.chown(cache, entry.pw_uid, entry.pw_gid)
        executable = str(world_readable_install() / "bin" / "action-executor")
        caps = SERVICE_CAPS if kind == "service" else ()
        command = as_user(user, [executable, *args], caps)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/nonexistent",
            "UV_CACHE_DIR": str(cache),
            **{k: v for k, v in os.environ.items() if k.startswith(REGISTRY_SETTINGS)},
        }
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, cwd="/")
    if done.returncode != 0:
        raise AssertionError(f"action-executor {' '.join(args)}: {done.stdout}{done.stderr}")


#: How this machine reaches the package registry (its CA, a proxy): a
#: service user's uv needs it as root's does.
REGISTRY_SETTINGS = (
    "SSL_CERT_",
    "UV_INDEX",
    "UV_NATIVE_TLS",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_",
)


def executor_pid(executor: Any) -> int:
    """The pid of the executor's process (this one for root's)."""
    return int(getattr(executor, "pid", os.getpid()))


__all__ = ["DEPLOYMENTS", "UserExecutor", "deployed", "executor_pid", "subprocess"]
