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
import time
from collections.abc import Callable

from executor.hosts.process import exit_status_from_pidfd, kill_group, returncode_from_status
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
        pidfd: int | None = None,
    ) -> None:
        self.pid = pid
        self.lifecycle = HostLifecycle(pid)
        self.channel = channel
        self.stdout = stdout
        self.stderr = stderr
        self.sandbox = sandbox
        self._on_release = on_release
        self.pidfd: int | None = pidfd
        if pidfd is None:
            try:
                self.pidfd = os.pidfd_open(pid)
            except OSError:  # already gone, or no pidfd support
                self.pidfd = None

    def kill(self) -> None:
        """SIGKILL through the pidfd: the process itself, never whoever has its
        number later (the template, which reaps it, may not say it did). Its
        own processes die with it (pid 1 of their namespace) or are killed by
        the template as it reaps it."""
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
        elif self.lifecycle.state is not HostState.EXITED:  # no pidfd: best effort
            kill_group(self.pid)

    def wait(self, timeout: float) -> int | None:
        if self.lifecycle.state is HostState.LOST:
            return self._status_from_pidfd(timeout)
        if self.lifecycle.wait_ended(timeout):
            state: HostState = self.lifecycle.state  # another thread moved it meanwhile
            if state is HostState.LOST:  # its template died
                return self._status_from_pidfd(timeout)
            return self.lifecycle.returncode
        return None

    def _status_from_pidfd(self, timeout: float) -> int | None:
        """Its template died, so no ``child.exited`` will come: wait for the exit
        on the pidfd and read the status the kernel kept there."""
        if self.pidfd is None:
            return None
        poller = select.poll()
        poller.register(self.pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            return None
        # The kernel records the status when its new parent (init) reaps it.
        for _ in range(50):
            status = exit_status_from_pidfd(self.pidfd)
            if status is not None:
                return returncode_from_status(status)
            time.sleep(0.01)
        return None

    def release(self) -> None:
        """The run on this host is over (the executor got its answer).

        Our ends close now (the child sees EOF and exits; three descriptors
        are free at once however far teardown lags); waiting for the exit and
        removing the workdir happen later, off the response path (``finish``).
        """
        if self.lifecycle.state in (HostState.READY, HostState.RUNNING):
            self.lifecycle.change(HostState.RELEASED)
        self._close_ends()
        self._on_release(self, True)

    def _close_ends(self) -> None:
        try:
            self.channel.close()
        except OSError:
            pass
        for fd in (self.stdout, self.stderr):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.stdout = self.stderr = -1

    def discard(self) -> None:
        """An unused spare: kill it and clean up."""
        self.kill()
        if self.lifecycle.state is HostState.READY:
            self.lifecycle.change(HostState.RELEASED)
        self._close_ends()
        self._on_release(self, False)

    def finish(self) -> None:
        """Close our ends, let the child exit, kill what it left behind, clean up."""
        self._close_ends()
        if self.wait(2.0) is None and not self.lifecycle.ended:
            self.kill()  # the template kills its leftovers when it reaps it
            self.wait(2.0)
        pidfd, self.pidfd = self.pidfd, None
        if pidfd is not None:
            try:
                os.close(pidfd)
            except OSError:
                pass
        self.sandbox.cleanup()
