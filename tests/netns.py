"""Two network namespaces of the test's own: an executor's machine and its cloud.

No packet of these tests leaves the machine: the executor runs inside
``host`` (its addresses are the executor's own), which reaches ``cloud``
over a veth pair. ``cloud`` holds an ordinary outside server and, at
169.254.169.254, a stand-in metadata service; ``host`` holds services on its
own address and on loopback, as RabbitMQ or PostgreSQL would be. Each
server records every connection it accepts, so a test proves not only that
the action was refused but that nothing reached the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

HOST_ADDR = "10.77.0.1"
CLOUD_ADDR = "10.77.0.2"
METADATA_ADDR = "169.254.169.254"

_SERVER = textwrap.dedent(
    """
    import socket, sys, threading
    log = open(sys.argv[1], "a", buffering=1)
    def serve_udp(spec):
        host, port = spec[len("udp:"):].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        while True:
            _data, peer = s.recvfrom(4096)
            log.write(f"{spec} {peer[0]}\\n")
    def serve(spec):
        if spec.startswith("udp:"):
            return serve_udp(spec)
        host, port = spec.rsplit(":", 1)
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, int(port)))
        s.listen(16)
        while True:
            conn, peer = s.accept()
            log.write(f"{spec} {peer[0]}\\n")
            conn.settimeout(2)
            try:
                conn.recv(4096)  # an HTTP request, or nothing
                conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 6\\r\\n\\r\\nhello\\n")
            except OSError:
                pass
            conn.close()
    for spec in sys.argv[2:]:
        threading.Thread(target=serve, args=(spec,), daemon=True).start()
    print("serving", flush=True)
    threading.Event().wait()
    """
)


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


@dataclass
class TestNetwork:
    """The two namespaces and their servers; ``close`` removes everything."""

    __test__ = False  # not a test class (pytest collects Test*)

    host: str
    cloud: str
    log: Path
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    @classmethod
    def create(cls, tmp: Path) -> TestNetwork:
        tag = f"{os.getpid() % 100000}{int(time.monotonic() * 1000) % 1000}"
        net = cls(f"mah-h{tag}", f"mah-c{tag}", tmp / "connections.log")
        net.log.write_text("")
        net.log.chmod(0o666)
        ip("netns", "add", net.host)
        ip("netns", "add", net.cloud)
        try:
            veth_h, veth_c = f"vh{tag}"[:15], f"vc{tag}"[:15]
            ip("link", "add", veth_h, "netns", net.host, "type", "veth", "peer", "name", veth_c)
            ip("link", "set", veth_c, "netns", net.cloud)
            for ns, dev, addr in ((net.host, veth_h, HOST_ADDR), (net.cloud, veth_c, CLOUD_ADDR)):
                ip("-n", ns, "link", "set", "lo", "up")
                ip("-n", ns, "addr", "add", f"{addr}/30", "dev", dev)
                ip("-n", ns, "link", "set", dev, "up")
            ip("-n", net.cloud, "addr", "add", f"{METADATA_ADDR}/32", "dev", "lo")
            ip("-n", net.host, "route", "add", "default", "via", CLOUD_ADDR)
            net.serve(net.cloud, f"{CLOUD_ADDR}:8080", f"{METADATA_ADDR}:80")
            net.serve(net.host, f"{HOST_ADDR}:9000", "127.0.0.1:9001", "udp:0.0.0.0:9999")
        except BaseException:
            net.close()
            raise
        return net

    def serve(self, ns: str, *specs: str) -> None:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", _SERVER, str(self.log), *specs],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "serving":
            proc.kill()
            raise RuntimeError(f"test server in {ns} did not start: {proc.stderr.read()}")
        self.servers.append(proc)

    def reached(self, spec: str) -> int:
        """How many connections the server at ``spec`` accepted."""
        return sum(1 for line in self.log.read_text().splitlines() if line.split()[0] == spec)

    def reached_at_least(self, spec: str, count: int, timeout: float = 15) -> int:
        """``reached(spec)`` once it is ``count`` or more, or at ``timeout``: a
        client's connect ends at the handshake, before the server (a process
        of its own, slow on a loaded machine) accepts and logs it."""
        deadline = time.monotonic() + timeout
        while (found := self.reached(spec)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def add_host_address(self, addr: str) -> None:
        """A new address of the executor's machine (a DHCP lease, a new interface)."""
        ip("-n", self.host, "addr", "add", f"{addr}/32", "dev", "lo")

    def exec_prefix(self) -> list[str]:
        """Run in ``host``'s network, and in nothing else of its own (``ip netns
        exec`` would also remount /sys, hiding the cgroup hierarchies)."""
        return ["nsenter", f"--net=/run/netns/{self.host}", "--"]

    def close(self) -> None:
        for proc in self.servers:
            proc.kill()
            proc.wait()
        for ns in (self.host, self.cloud):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@dataclass
class OutsideHost:
    """A machine outside this one, for a service that runs in this host's own
    network (it must reach RabbitMQ on loopback): a namespace of the test's
    own behind a veth pair, serving HTTP on ``address:8080``."""

    ns: str
    address: str
    log: Path
    server: TestNetwork | None = None

    @classmethod
    def create(cls, tmp: Path) -> OutsideHost:
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
        for third in range(os.getpid() % 200, os.getpid() % 200 + 50):
            if f"10.79.{third}." not in used:
                break
        tag = f"{os.getpid() % 100000}{third}"
        outside = cls(f"mah-o{tag}", f"10.79.{third}.2", tmp / "outside.log")
        outside.log.write_text("")
        ip("netns", "add", outside.ns)
        try:
            here, there = f"vo{tag}h"[:15], f"vo{tag}o"[:15]
            ip("link", "add", here, "type", "veth", "peer", "name", there, "netns", outside.ns)
            ip("addr", "add", f"10.79.{third}.1/30", "dev", here)
            ip("link", "set", here, "up")
            ip("-n", outside.ns, "link", "set", "lo", "up")
            ip("-n", outside.ns, "addr", "add", f"{outside.address}/30", "dev", there)
            ip("-n", outside.ns, "link", "set", there, "up")
            outside.server = TestNetwork(outside.ns, outside.ns, outside.log)
            outside.server.serve(outside.ns, f"{outside.address}:8080")
        except BaseException:
            outside.close()
            raise
        return outside

    def reached(self) -> int:
        return sum(1 for line in self.log.read_text().splitlines() if line)

    def close(self) -> None:
        if self.server is not None:
            for proc in self.server.servers:
                proc.kill()
                proc.wait()
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)
