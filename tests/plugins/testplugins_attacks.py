"""Actions that try to escape the sandbox; each reports what it managed.

Every action returns plain data describing the attempt (``ok`` and the error
it got), so the tests assert on what happened inside the sandbox.
"""

import os
import signal
import socket
import subprocess
import sys
import time

from actions_api import Action


def _attempt(fn):
    try:
        value = fn()
    except OSError as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc.strerror or exc}"}
    return {"ok": True, "value": value}


class ReadAction(Action):
    """Read a file (or list a directory)."""

    def __init__(self, path, size=64):
        self.path = path
        self.size = size

    def run(self, context):
        def read():
            if os.path.isdir(self.path):
                return sorted(os.listdir(self.path))
            with open(self.path, "rb") as f:
                return f.read(self.size).decode("latin-1")

        return _attempt(read)


class WriteAction(Action):
    """Create a file (e.g. a .pth in another environment's site-packages)."""

    def __init__(self, path, text="import os  # planted\n"):
        self.path = path
        self.text = text

    def run(self, context):
        def write():
            with open(self.path, "w") as f:
                f.write(self.text)
            return self.path

        return _attempt(write)


class ConnectAction(Action):
    """Open a TCP connection."""

    def __init__(self, host, port):
        self.host = host
        self.port = port

    def run(self, context):
        def connect():
            with socket.create_connection((self.host, self.port), timeout=2):
                return "connected"

        return _attempt(connect)


class KillAction(Action):
    """Send SIGKILL to ``pid`` (-1: every process it may signal)."""

    def __init__(self, pid):
        self.pid = pid

    def run(self, context):
        if self.pid == -1:  # kill(-1) would take this host down too when it works
            child = os.fork()
            if child == 0:
                try:
                    os.kill(-1, signal.SIGKILL)
                    os._exit(0)
                except OSError:
                    os._exit(1)
            _, status = os.waitpid(child, 0)
            return {"ok": os.waitstatus_to_exitcode(status) == 0}
        return _attempt(lambda: os.kill(self.pid, signal.SIGKILL))


class DaemonAction(Action):
    """Leave a process behind: a setsid daemon or a setpgid grandchild."""

    def __init__(self, marker, how="setsid", hang=False):
        self.marker = marker
        self.how = how
        self.hang = hang

    def run(self, context):
        code = f"import time; time.sleep(1000)  # {self.marker}"
        if self.how == "setsid":
            subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        else:
            child = os.fork()
            if child == 0:
                os.setpgid(0, 0)
                subprocess.Popen([sys.executable, "-c", code], process_group=0)
                os._exit(0)
            os.waitpid(child, 0)
        time.sleep(0.3)  # the daemon is running
        if self.hang:
            time.sleep(1000)
        return "left behind"


class ForkBombAction(Action):
    """Fork up to ``count`` children that wait; report how many forks failed."""

    def __init__(self, count=2000):
        self.count = count

    def run(self, context):
        forked, failed = 0, 0
        r, w = os.pipe()
        for _ in range(self.count):
            try:
                pid = os.fork()
            except OSError:
                failed += 1
                continue
            if pid == 0:
                os.close(w)
                os.read(r, 1)  # wait until the parent is done
                os._exit(0)
            forked += 1
        os.close(w)
        return {"forked": forked, "failed": failed}


class ProcessesAction(Action):
    """What /proc shows: pids, and whether a needle is in any cmdline or environ."""

    def __init__(self, needle=""):
        self.needle = needle.encode()

    def run(self, context):
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        found = []
        for pid in pids:
            for name in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{pid}/{name}", "rb") as f:
                        if self.needle and self.needle in f.read():
                            found.append(f"{pid}/{name}")
                except OSError:
                    pass
        return {"pids": pids, "found": found, "uid": os.getuid(), "me": os.getpid()}


class HoldSecretAction(Action):
    """Keep a secret in memory and in the working directory while others look."""

    def __init__(self, secret, seconds=3):
        self.secret = secret
        self.seconds = seconds

    def run(self, context):
        kept = self.secret * 2  # in memory
        with open("secret.txt", "w") as f:
            f.write(self.secret)
        time.sleep(self.seconds)
        return {"cwd": os.getcwd(), "len": len(kept)}


class WhoAmIAction(Action):
    """Identity, working directory and a file in /tmp (it must not survive).

    With ``marker``, a process of the action's with the marker in its command
    line lives for ``hold`` seconds, so a test can read its ids from outside.
    """

    def __init__(self, plant=None, marker=None, hold=1.0):
        self.plant = plant
        self.marker = marker
        self.hold = hold

    def run(self, context):
        seen = sorted(os.listdir("/tmp"))
        if self.plant:
            with open(os.path.join("/tmp", self.plant), "w") as f:
                f.write("planted")
        if self.marker:
            code = f"import time; time.sleep({self.hold})  # {self.marker}"
            subprocess.run([sys.executable, "-c", code], check=True)
        return {
            "uid": os.getuid(),
            "gid": os.getgid(),
            "cwd": os.getcwd(),
            "tmp": seen,
            "pid": os.getpid(),
        }


class MemoryBombAction(Action):
    """Use ``mib`` MiB of memory: on the heap, split over ``children``
    processes, in a memfd or in files of the private /tmp (tmpfs)."""

    def __init__(self, how="heap", mib=128, children=4):
        self.how = how
        self.mib = mib
        self.children = children

    def run(self, context):
        chunk = b"x" * (1024 * 1024)
        if self.how == "heap":
            held = [bytearray(chunk) for _ in range(self.mib)]
            return {"held": len(held)}
        if self.how == "children":
            share = max(1, self.mib // self.children)
            pids = []
            for _ in range(self.children):
                pid = os.fork()
                if pid == 0:
                    held = [bytearray(chunk) for _ in range(share)]
                    time.sleep(2 + len(held) * 0)
                    os._exit(0)
                pids.append(pid)
            codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
            return {"children": codes}
        if self.how == "memfd":
            fd = os.memfd_create("bomb")
            for _ in range(self.mib):
                os.write(fd, chunk)
            return {"memfd": self.mib}
        if self.how == "tmpfs":
            with open("/tmp/bomb", "wb") as f:
                for _ in range(self.mib):
                    f.write(chunk)
            return {"tmpfs": self.mib}
        raise ValueError(f"unknown how {self.how!r}")


class ServeAction(Action):
    """Try to serve: bind (and listen on) an address, or an abstract unix name."""

    def __init__(self, host="127.0.0.1", port=0, abstract=None):
        self.host = host
        self.port = port
        self.abstract = abstract

    def run(self, context):
        if self.abstract is not None:

            def bind_abstract():
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.bind("\0" + self.abstract)
                s.listen()
                return "listening"

            return _attempt(bind_abstract)

        def bind():
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((self.host, self.port))
            s.listen()
            return "listening"

        def listen_unbound():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.listen()
            return f"listening on {s.getsockname()}"

        return {"bind": _attempt(bind), "listen": _attempt(listen_unbound)}


class TerminalsAction(Action):
    """Which terminals /dev/pts shows, and whether one can be opened."""

    def run(self, context):
        names = sorted(os.listdir("/dev/pts"))
        opened = _attempt(lambda: os.close(os.open("/dev/pts/0", os.O_WRONLY)) or "opened")
        return {"pts": names, "open_0": opened}


class SpinAction(Action):
    """Keep a CPU busy for ``seconds`` of wall time; say how much CPU it got."""

    def __init__(self, seconds=1.0):
        self.seconds = seconds

    def run(self, context):
        end = time.monotonic() + self.seconds
        spins = 0
        while time.monotonic() < end:
            spins += 1
        return {"cpu": time.process_time(), "spins": spins}


class ReuseAction(Action):
    """Run another action through the executor (actions_api.utils)."""

    def __init__(self, action, params=None):
        self.action = action
        self.params = params or {}

    def run(self, context):
        from actions_api import utils

        result = utils.run_action(self.action, **self.params)
        return {"data": result.data, "error": result.error}


class SocketAction(Action):
    """Open a socket of ``family`` (e.g. 40, AF_VSOCK: the hypervisor)."""

    def __init__(self, family, type=1, proto=0):
        self.family = family
        self.type = type
        self.proto = proto

    def run(self, context):
        return _attempt(lambda: socket.socket(self.family, self.type, self.proto).close())


class DatagramAction(Action):
    """Send one UDP datagram to ``host``:``port`` (broadcast allowed)."""

    def __init__(self, host, port):
        self.host = host
        self.port = port

    def run(self, context):
        def send():
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                if family == socket.AF_INET:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                s.sendto(b"hello", (self.host, self.port))
            return "sent"

        return _attempt(send)
