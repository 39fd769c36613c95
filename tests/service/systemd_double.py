"""systemd's part in starting and stopping our unit, for tests: systemd does
not run on these machines.

``RunningUnit`` starts a unit's ``ExecStart`` line the way systemd does: as
its ``User=`` and ``Group=``, with exactly its ``AmbientCapabilities=`` and
``CapabilityBoundingSet=``, in a cgroup delegated to that user
(``Delegate=yes``), with its ``Environment=`` and a ``NOTIFY_SOCKET`` whose
``READY=1`` ends the start (``Type=notify``). A stop sends ``KillSignal=``
and waits ``TimeoutStopSec=``.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from deployments import as_user
from sandbox_support import delegated_cgroup, remove_cgroup


@dataclass
class UnitFile:
    """The ``[Service]`` keys of a unit file, continuation lines joined."""

    service: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> UnitFile:
        keys: dict[str, str] = {}
        section = None
        pending = ""
        for raw in text.splitlines():
            line = pending + raw.strip()
            pending = ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            if not line or line.startswith("#"):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            if section == "Service" and "=" in line:
                key, value = line.split("=", 1)
                keys[key] = value
        return cls(keys)

    @property
    def user(self) -> str:
        return self.service["User"]

    @property
    def caps(self) -> list[str]:
        return caps_of(self.service["AmbientCapabilities"])

    @property
    def bounding(self) -> list[str]:
        return caps_of(self.service["CapabilityBoundingSet"])

    @property
    def exec_start(self) -> list[str]:
        return shlex.split(self.service["ExecStart"])

    @property
    def environment(self) -> dict[str, str]:
        pairs = (a.split("=", 1) for a in shlex.split(self.service.get("Environment", "")))
        return dict(pairs)

    @property
    def stop_timeout(self) -> float:
        return float(self.service.get("TimeoutStopSec", "90"))


def caps_of(value: str) -> list[str]:
    return [cap.lower().removeprefix("cap_") for cap in value.split()]


class RunningUnit:
    """One start of a unit's ``ExecStart`` (``argv``: that line, or the
    test's version of it), logging to ``log``; ``prefix`` runs first as root
    (e.g. ``nsenter`` into a mount namespace)."""

    def __init__(
        self,
        unit: UnitFile,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        log: Path,
        prefix: Sequence[str] = (),
    ) -> None:
        self.unit = unit
        self.argv = list(argv)
        self.env = dict(env)
        self.log = log
        self.prefix = list(prefix)
        self.cgroup = f"mah-unit-{os.getpid()}-{os.urandom(3).hex()}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._notify_dir: str | None = None
        self._notify: socket.socket | None = None

    def start(self, timeout: float = 120) -> None:
        """Start it and wait for ``READY=1`` (fails with its log if it exits)."""
        # systemd's notify socket, in /run: which the service user may write to
        self._notify_dir = tempfile.mkdtemp(prefix="mah-notify-", dir="/run")
        os.chmod(self._notify_dir, 0o755)
        address = os.path.join(self._notify_dir, "notify")
        self._notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._notify.bind(address)
        os.chmod(address, 0o666)
        joins = delegated_cgroup(self.unit.user, self.cgroup)
        enter = " && ".join(f"echo $$ > {p}" for p in joins) or "true"
        argv = as_user(self.unit.user, self.argv, self.unit.caps)
        bounding = ",".join(f"+{c}" for c in self.unit.bounding)
        argv.insert(1, f"--bounding-set=-all,{bounding}")
        env = {**self.env, **self.unit.environment, "NOTIFY_SOCKET": address}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [*self.prefix, "sh", "-c", f'{enter} && exec "$@"', "sh", *argv],
                env=env,
                stdout=out,
                stderr=out,
                cwd="/",
            )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        assert self.proc is not None and self._notify is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.proc.returncode} before it was ready:\n"
                    + self.output()[-4000:]
                )
            self._notify.settimeout(0.5)
            try:
                if b"READY=1" in self._notify.recv(4096):
                    return
            except TimeoutError:
                continue
        raise AssertionError(f"not ready after {timeout} s:\n" + self.output()[-4000:])

    def stop(self) -> int:
        """``systemctl stop``: the kill signal, then at most ``TimeoutStopSec``."""
        assert self.proc is not None
        name = self.unit.service.get("KillSignal", "SIGTERM")
        self.proc.send_signal(signal.Signals[name])
        try:
            return self.proc.wait(self.unit.stop_timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {self.unit.stop_timeout} s after {name}:\n" + self.output()[-4000:]
            ) from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._notify is not None:
            self._notify.close()
        if self._notify_dir is not None:
            shutil.rmtree(self._notify_dir, ignore_errors=True)
        remove_cgroup(self.cgroup)


def status_of(pid: int) -> dict[str, str]:
    """``/proc/PID/status``, by key."""
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def cap_mask(caps: Sequence[str]) -> int:
    numbers = {"setgid": 6, "setuid": 7, "net_admin": 12, "bpf": 39}
    return sum(1 << numbers[c] for c in caps)


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid
