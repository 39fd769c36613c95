"""The ``spawn`` launcher: a fresh interpreter per action.

The baseline (how StackStorm runs Python actions) and the fallback for
environments that cannot fork safely. Costs the interpreter start plus the
runtime's imports (about 0.2 s here) per action.
"""

from __future__ import annotations

import os
import socket
import subprocess

from .environments import Environment
from .process import kill_group
from .sandbox import Sandbox


class SpawnedHost:
    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        channel: socket.socket,
        stdout: int,
        stderr: int,
        sandbox: Sandbox,
    ) -> None:
        self.popen = popen
        self.pid = popen.pid
        self.channel = channel
        self.stdout = stdout
        self.stderr = stderr
        self._sandbox = sandbox

    def kill(self) -> None:
        kill_group(self.pid)

    def wait(self, timeout: float) -> int | None:
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def release(self) -> None:
        try:
            self.channel.close()
        finally:
            if self.wait(2.0) is None:
                self.kill()
                self.popen.wait()
            kill_group(self.pid)  # whatever the action left running
            for fd in (self.stdout, self.stderr):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._sandbox.cleanup()


class SpawnLauncher:
    name = "spawn"

    def __init__(self, sandbox_factory: type[Sandbox] = Sandbox, **sandbox_options: object) -> None:
        self._sandbox_factory = sandbox_factory
        self._sandbox_options = sandbox_options

    def start(self, env: Environment) -> SpawnedHost:
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sandbox = self._sandbox_factory(env, **self._sandbox_options)  # type: ignore[arg-type]
        try:
            popen = subprocess.Popen(
                [env.python, "-m", "action_host", "--serve"],
                stdin=theirs.fileno(),
                stdout=out_w,
                stderr=err_w,
                cwd=sandbox.workdir,
                env=sandbox.environ,
                start_new_session=True,
                close_fds=True,
            )
        except BaseException:
            ours.close()
            for fd in (out_r, err_r):
                os.close(fd)
            sandbox.cleanup()
            raise
        finally:
            theirs.close()
            os.close(out_w)
            os.close(err_w)
        return SpawnedHost(popen, ours, out_r, err_r, sandbox)

    def prepare(self, env: Environment) -> None:
        """Nothing to warm up for a cold spawn."""

    def close(self) -> None:
        pass
