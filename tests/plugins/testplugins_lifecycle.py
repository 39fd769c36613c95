"""Actions for the lifecycle tests: channels cut, processes left behind."""

import os
import socket
import subprocess
import sys
import time

from actions_api import Action


def _channel_fds():
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                fds.append(int(name))
        except OSError:
            pass
    return fds


class CloseChannelAction(Action):
    """Close the host's channel to the executor, then keep running."""

    def __init__(self, then_sleep=0):
        self.then_sleep = then_sleep

    def run(self, context):
        for fd in _channel_fds():
            os.close(fd)
        time.sleep(self.then_sleep)
        return "unreachable"


class HalfFrameAction(Action):
    """Write the start of a frame on the channel, then wait forever."""

    def run(self, context):
        for fd in _channel_fds():
            sock = socket.socket(fileno=os.dup(fd))
            sock.sendall(b"\x00\x00\x10\x00\x81")
        time.sleep(3600)


class SleepWithChildAction(Action):
    """Start a child that writes its pid, then sleep (a run to be stopped)."""

    def __init__(self, pidfile, seconds=60):
        self.pidfile = pidfile
        self.seconds = seconds

    def run(self, context):
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True
        )
        with open(self.pidfile, "w") as f:
            f.write(f"{os.getpid()} {child.pid}")
        time.sleep(self.seconds)
        return "slept"


class SpinAction(Action):
    """Hold the GIL in a tight loop (no Python thread of the host can run)."""

    def __init__(self, pidfile):
        self.pidfile = pidfile

    def run(self, context):
        with open(self.pidfile, "w") as f:
            f.write(str(os.getpid()))
        import re

        re.match(r"(a?){40}a{40}", "a" * 40)  # catastrophic backtracking in C
        return "done"
