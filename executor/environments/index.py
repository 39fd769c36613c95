"""Which actions an environment provides, without importing any action code.

The executor never imports action code: it asks the environment's own
interpreter (``action-host --inspect --json``) and caches the answer on disk,
keyed by a fingerprint of the environment's installed distributions.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from executor.environments.model import Environment
from executor.errors import ErrorKind, ExecutorError
from executor.layout import StateLayout
from executor.sandbox.confinement import Confinement
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.policy import SAFE_PATH, SandboxUnavailable, host_environ
from executor.sandbox.runtime import SandboxRuntime
from protocol.messages import ActionInfo, HostInfo

log = logging.getLogger(__name__)


_FAILURE_BACKOFF = 30.0


class InspectFailed(ExecutorError, RuntimeError):
    """An environment's actions cannot be listed; the message says how to repair it."""

    kind = ErrorKind.CATALOG_UNAVAILABLE


@dataclass
class InspectReport:
    """What ``action-host --inspect --json`` said about an environment."""

    host: HostInfo
    actions: list[ActionInfo]
    #: Near-miss entry point groups, unsupported providers, no working action.
    notices: list[str] = field(default_factory=list)


def inspect_environment(
    env: Environment,
    layout: StateLayout,
    host_args: Sequence[str] = (),
    runtime: SandboxRuntime | None = None,
    policy: SandboxPolicy | None = None,
) -> tuple[HostInfo, list[ActionInfo]]:
    """Run ``action-host --inspect --json`` under the environment's interpreter."""
    report = inspect_report(env, layout, host_args, runtime, policy)
    return report.host, report.actions


def inspect_report(
    env: Environment,
    layout: StateLayout,
    host_args: Sequence[str] = (),
    runtime: SandboxRuntime | None = None,
    policy: SandboxPolicy | None = None,
) -> InspectReport:
    """``inspect_environment`` with the notices; ``host_args`` carry the
    environment's settings (config files, modules to import first).

    Listing imports every action, and so runs plugin code: it runs in an
    action's sandbox (``runtime``'s, or a runtime of its own for the default
    ``policy``), with no network at all.
    """
    policy = policy if policy is not None else SandboxPolicy()
    own = runtime is None
    runtime = runtime if runtime is not None else SandboxRuntime(layout)
    try:
        confinement = runtime.confine(env, policy, "inspect")
    except SandboxUnavailable as exc:
        if own:
            runtime.close()
        raise InspectFailed(
            f"cannot inspect environment {env.name!r} in a sandbox: {exc}"
        ) from None
    try:
        proc = _run_inspect(env, layout, host_args, confinement)
    finally:
        confinement.release()
        if own:
            runtime.close()
    return _report_of(env, proc)


def _run_inspect(
    env: Environment, layout: StateLayout, host_args: Sequence[str], confinement: Confinement
) -> subprocess.CompletedProcess[str]:
    """``action-host --inspect --json`` in ``confinement``, in a home of its own."""
    os.makedirs(layout.work, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="inspect-", dir=layout.work) as home:
        environ = _inspect_environ(env, layout, confinement, home)
        command = [env.python, "-m", "action_host", "--inspect", "--json"]
        command += ["--sandbox", confinement.spec_json(), *host_args]
        try:
            launch = confinement.command(command, environ, cwd=home)
            try:
                return subprocess.run(
                    launch.argv,
                    capture_output=True,
                    text=True,
                    env={"PATH": SAFE_PATH},
                    cwd="/",
                    timeout=120,
                    check=False,
                    pass_fds=launch.pass_fds,
                )
            finally:
                launch.close()
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InspectFailed(
                f"cannot inspect environment {env.name!r} with {env.python}: {exc}. "
                f"Rebuild it with 'action-executor env upgrade {env.name}' or drop it "
                f"with 'action-executor env remove {env.name}'."
            ) from None


def _inspect_environ(
    env: Environment, layout: StateLayout, confinement: Confinement, home: str
) -> dict[str, str]:
    """The host's environment; without a private file system, ``home`` is the
    real directory, so it goes to the id the inspection runs as."""
    if confinement.private_filesystem:
        return host_environ(env, home="/tmp/work", cache_dir="/tmp/.cache")
    environ = host_environ(env, home=home, cache_dir=layout.cache)
    if confinement.userns is not None:
        kid = confinement.outside_id(1 if confinement.spec.uids > 1 else None)
        os.chown(home, kid, kid)
    return environ


def _report_of(env: Environment, proc: subprocess.CompletedProcess[str]) -> InspectReport:
    """The report ``action-host --inspect --json`` printed, or why there is none."""
    if proc.returncode != 0:
        raise InspectFailed(
            f"'{env.python} -m action_host --inspect --json' failed for environment "
            f"{env.name!r} (exit code {proc.returncode}): {proc.stderr.strip()[-2000:]}\n"
            f"Rebuild it with 'action-executor env upgrade {env.name}' or drop it with "
            f"'action-executor env remove {env.name}'."
        )
    payload = json.loads(proc.stdout)
    return InspectReport(
        HostInfo.model_validate(payload["host"]),
        [ActionInfo.model_validate(a) for a in payload["actions"]],
        list(payload.get("notices", [])),
    )


class EnvironmentIndex:
    """The actions of one environment, cached on disk by fingerprint.

    The fingerprint (a scan of the environment's site directories) is checked
    at most every ``recheck_seconds``, keeping the scan off the per-action path;
    installs made through the executor call ``actions(refresh=True)``.
    """

    def __init__(
        self,
        env: Environment,
        layout: StateLayout,
        recheck_seconds: float = 5.0,
        host_args: Sequence[str] = (),
        runtime: SandboxRuntime | None = None,
        policy: SandboxPolicy | None = None,
    ) -> None:
        self.env = env
        self.host_args = list(host_args)
        self.layout = layout
        self.runtime = runtime
        self.policy = policy
        self.cache_dir = layout.cache
        self._index_dir = layout.index
        self._loaded: tuple[str, dict[str, ActionInfo]] | None = None
        self._checked_at = float("-inf")
        self._recheck = recheck_seconds
        self._lock = threading.Lock()
        self._failure: tuple[str, float, InspectFailed] | None = None  # fingerprint, when, why

    def actions(self, refresh: bool = False) -> dict[str, ActionInfo]:
        now = time.monotonic()
        if not refresh and self._loaded and now - self._checked_at < self._recheck:
            return self._loaded[1]
        with self._lock:  # one scan at a time; the others use its answer
            if not refresh and self._loaded and time.monotonic() - self._checked_at < self._recheck:
                return self._loaded[1]
            return self._scan(refresh)

    def _scan(self, refresh: bool) -> dict[str, ActionInfo]:
        self._checked_at = time.monotonic()
        fingerprint = self.env.fingerprint()
        if not refresh and self._loaded and self._loaded[0] == fingerprint:
            return self._loaded[1]
        path = os.path.join(self._index_dir, f"{self.env.name}-{fingerprint}.json")
        actions = None if refresh else self._read(path)
        if actions is None:
            failure = self._failure
            if (
                not refresh
                and failure
                and failure[0] == fingerprint
                and (time.monotonic() - failure[1] < _FAILURE_BACKOFF)
            ):
                raise failure[2]  # do not re-run a failing inspect on every request
            try:
                _host, infos = inspect_environment(
                    self.env, self.layout, self.host_args, self.runtime, self.policy
                )
            except InspectFailed as exc:
                self._failure = (fingerprint, time.monotonic(), exc)
                raise
            self._failure = None
            actions = {info.name: info for info in infos}
            self._write(path, actions)
        self._loaded = (fingerprint, actions)
        return actions

    @staticmethod
    def _read(path: str) -> dict[str, ActionInfo] | None:
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
            return {name: ActionInfo.model_validate(a) for name, a in raw.items()}
        except (OSError, ValueError):
            return None

    def _write(self, path: str, actions: dict[str, ActionInfo]) -> None:
        os.makedirs(self._index_dir, exist_ok=True)
        for old in os.listdir(self._index_dir):
            if old.endswith(".json") and old[:-5].rsplit("-", 1)[0] == self.env.name:
                try:
                    os.unlink(os.path.join(self._index_dir, old))
                except OSError:
                    pass
        fd, tmp = tempfile.mkstemp(dir=self._index_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({n: a.model_dump(mode="json") for n, a in actions.items()}, f)
        os.replace(tmp, path)
