"""``ForkedHost``: a child of a template, as the executor sees it.

Its exit is reported by the template (``child.exited``), which the template
process turns into a lifecycle change; a child whose template died is LOST
(its status cannot be learnt, though its pidfd still tells when it is gone).
"""

from __future__ import annotations

import os
import select
import signal
import socket
from collections.abc import Callable

from executor.hosts.process import kill_group
from executor.hosts.states import HostLifecycle, HostState
from executor.sandbox.policy import Sandbox


class ForkedHost:
    def __init__(
        self,
        pid: int,
        channel: socket.socket,
        stdout: int,
        stderr: int,
        sandbox: Sandbox,
        on_release: Callable[[ForkedHost, bool], None],
    ) -> None:
        self.pid = pid
        self.lifecycle = HostLifecycle(pid)
        self.channel = channel
        self.stdout = stdout
        self.stderr = stderr
        self.sandbox = sandbox
        self._on_release = on_release
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone, or no pidfd support
            self.pidfd = None

    def kill(self) -> None:
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
        if self.lifecycle.state is not HostState.EXITED:  # once reaped, the pid is reusable
            kill_group(self.pid)

    def wait(self, timeout: float) -> int | None:
        if self.lifecycle.state is HostState.LOST:
            self._wait_pidfd(timeout)  # we can still see the exit, not its status
            return None
        if self.lifecycle.wait_ended(timeout):
            return self.lifecycle.returncode
        return None

    def _wait_pidfd(self, timeout: float) -> None:
        if self.pidfd is not None:
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            poller.poll(timeout * 1000)

    def release(self) -> None:
        """The run on this host is over (the executor got its answer)."""
        if self.lifecycle.state in (HostState.READY, HostState.RUNNING):
            self.lifecycle.change(HostState.RELEASED)
        self._on_release(self, True)

    def discard(self) -> None:
        """An unused spare: kill it and clean up."""
        self.kill()
        if self.lifecycle.state is HostState.READY:
            self.lifecycle.change(HostState.RELEASED)
        self._on_release(self, False)

    def finish(self) -> None:
        """Close our ends, let the child exit, kill what it left behind, clean up."""
        try:
            self.channel.close()
        except OSError:
            pass
        if self.wait(2.0) is None and not self.lifecycle.ended:
            self.kill()  # the template kills its leftovers when it reaps it
            self.wait(2.0)
        pidfd, self.pidfd = self.pidfd, None
        for fd in (self.stdout, self.stderr, pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.sandbox.cleanup()
