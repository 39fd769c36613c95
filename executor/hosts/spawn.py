"""The ``spawn`` launcher: a fresh interpreter per action.

The baseline (how StackStorm runs Python actions) and the fallback for
environments that cannot fork safely. Costs the interpreter start plus the
runtime's imports (about 0.2 s here) per action.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from typing import Any

from executor.config import ExecutorConfig
from executor.deadline import Deadline
from executor.environments.model import Environment
from executor.hosts import spawner
from executor.hosts.launcher import LauncherStats
from executor.hosts.process import kill_group
from executor.hosts.session import HostSession
from executor.hosts.states import HostLifecycle, HostState
from executor.layout import StateLayout
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.policy import SAFE_PATH, Sandbox
from executor.sandbox.runtime import Confinement, SandboxRuntime
from protocol.handlers import Handlers


class SpawnedHost:
    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        channel: socket.socket,
        stdout: int,
        stderr: int,
        sandbox: Sandbox,
        confinement: Confinement,
    ) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.lifecycle = HostLifecycle(popen.pid)
        self.channel = channel
        self.stdout = stdout
        self.stderr = stderr
        self._sandbox = sandbox
        self._confinement = confinement

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox

    def kill(self) -> None:
        if not self.lifecycle.ended:  # once reaped, the pid may be someone else's
            kill_group(self.pid)

    def release(self) -> None:
        if self.lifecycle.state in (HostState.READY, HostState.RUNNING):
            self.lifecycle.change(HostState.RELEASED)
        try:
            self.channel.close()
        finally:
            if self.wait(2.0) is None:
                self.kill()
                self.wait(5.0)
            self._sandbox.cleanup()
            self._confinement.release()
            for fd in (self.stdout, self.stderr):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def discard(self) -> None:
        self.kill()
        self.release()

    def wait(self, timeout: float) -> int | None:
        """Wait for the exit; before reaping, kill whatever the action left running.

        While the exited host is an unreaped zombie its pid (its process group
        id) cannot be reused, so the group kill cannot hit another process.
        """
        if self.lifecycle.ended:
            return self.lifecycle.returncode
        deadline = Deadline.after(timeout)
        while True:
            try:
                exited = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                break
            if exited is not None:
                kill_group(self.pid)
                break
            if deadline.expired():
                return None
            time.sleep(0.005)
        try:
            returncode = self.popen.wait(deadline.capped(timeout))
        except subprocess.TimeoutExpired:
            return None
        self.lifecycle.change(HostState.EXITED, returncode)
        return returncode


def start_host(
    env: Environment,
    layout: StateLayout,
    confinement: Confinement,
    limits: dict[str, int] | None = None,
    config_files: tuple[str, ...] = (),
    strict_serialization: bool = False,
) -> SpawnedHost:
    """Start ``action-host --serve`` under ``env``'s interpreter, confined by
    ``confinement`` (``env``'s settings add config files, modules to import
    first, strictness). Its working directory and cgroup go with it."""
    slot = confinement.take_slot()
    uid = 1 if confinement.spec.uids > 1 else None
    sandbox = Sandbox.create(env, layout, confinement.private_filesystem, slot, uid)
    sandbox.on_cleanup(lambda: confinement.give_back(slot))
    if sandbox.host_dir is not None and confinement.userns is not None:
        kid = confinement.outside_id(uid)
        os.chown(sandbox.host_dir, kid, kid)
    command = [env.python, "-m", "action_host", "--serve", "--parent-pid", str(os.getpid())]
    if limits:
        command += ["--limits", json.dumps(limits)]
    command += ["--sandbox", confinement.spec_json()]
    command += env.host_arguments(config_files, strict_serialization)
    try:
        launch = confinement.command(command, sandbox.environ, cwd=sandbox.start_dir)
    except BaseException:
        sandbox.cleanup()
        raise
    ours, theirs = socket.socketpair()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        popen = spawner.popen(
            launch.argv,
            stdin=theirs.fileno(),
            stdout=out_w,
            stderr=err_w,
            cwd="/",
            env={"PATH": SAFE_PATH},
            start_new_session=True,
            close_fds=True,
            pass_fds=launch.pass_fds,
        )
    except BaseException:
        ours.close()
        for fd in (out_r, err_r):
            os.close(fd)
        sandbox.cleanup()
        raise
    finally:
        launch.close()
        theirs.close()
        os.close(out_w)
        os.close(err_w)
    return SpawnedHost(popen, ours, out_r, err_r, sandbox, confinement)


class SpawnLauncher:
    name = "spawn"

    def __init__(
        self, config: ExecutorConfig, handlers: Handlers[Any], runtime: SandboxRuntime
    ) -> None:
        self.config = config
        self.layout = StateLayout(config.state_dir)
        self.handlers = handlers
        self.runtime = runtime
        self._started = 0

    def start(self) -> None:
        pass

    def acquire(
        self, env: Environment, deadline: Deadline, policy: SandboxPolicy | None = None
    ) -> HostSession:
        policy = policy if policy is not None else self.config.sandbox_for(env.name)
        confinement = self.runtime.confine(env, policy, "spawn")
        try:
            host = start_host(
                env,
                self.layout,
                confinement,
                env.host_limits(self.config.limits),
                self.config.host_config_files,
                self.config.strict_serialization,
            )
        except BaseException:
            confinement.release()
            raise
        self._started += 1
        session = HostSession(
            host,
            handlers=self.handlers,
            max_frame_size=self.config.max_frame_size,
            max_line_bytes=self.config.max_log_line_bytes,
        )
        try:
            session.handshake(deadline)
        except BaseException:
            host.release()
            raise
        return session

    def prepare(self, env: Environment) -> None:
        pass

    def loaded(self, env: Environment, action: str) -> None:
        pass  # nothing outlives a run to keep it in

    def forget(self, env: Environment) -> None:
        pass

    def stats(self) -> LauncherStats:
        return LauncherStats(launcher=self.name, hosts_started=self._started)

    def close(self) -> None:
        pass
