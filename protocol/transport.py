"""Moving frames over a unix socket: the only protocol module that does I/O.

``Endpoint`` is pure: it turns bytes into dispatched calls and answers
into bytes. Whoever owns a socket reads it with ``SocketTransport.receive``
(or ``receive_with_fds`` where descriptors travel with the frames, as on a
template's control channel) and feeds the endpoint; the endpoint sends
through the transport it was given. One read size and one error rule for
every loop in the project: a read or write failure is a closed channel.
"""

from __future__ import annotations

import os
import select
import socket
from collections.abc import Sequence
from typing import Protocol

from .errors import ChannelClosed

#: Bytes asked of the kernel per read; a frame larger than this arrives in pieces.
READ_SIZE = 256 * 1024
#: Descriptors accepted with one read (SCM_RIGHTS); a fork request carries three.
MAX_FDS_PER_READ = 64


#: The one byte a forked child waits for on its channel before it does
#: anything: the executor sends it once the child is in the cgroup of its own.
#: A page stays charged to the cgroup it was first touched in, so a child that
#: ran ahead (its sandbox steps, its rehearsal) would charge its pages to its
#: template's cgroup (about 0.3 MiB a child; most of what live children keep
#: charged there are the template's own pages, see ``Unit.allow_children``).
ADOPTED = b"\x06"


def send_adopted(sock: socket.socket) -> None:
    """Let a forked child go on; nothing to do when it is gone already (its
    exit is reported by its template, not here)."""
    try:
        sock.sendall(ADOPTED)
    except OSError:
        pass


def wait_adopted(fd: int) -> bool:
    """In the child: block until the executor has adopted it; False when the
    channel closed or carried anything else (the executor gave it up)."""
    try:
        return os.read(fd, 1) == ADOPTED
    except OSError:
        return False


class Transport(Protocol):
    """What an ``Endpoint`` needs to send: bytes out, optionally with descriptors."""

    def send(self, data: bytes, fds: Sequence[int] = ()) -> None: ...

    def close(self) -> None: ...


class SocketTransport:
    """A connected unix stream socket (one end of a socketpair)."""

    def __init__(self, sock: socket.socket, name: str = "peer") -> None:
        self.sock = sock
        self.name = name
        #: A send failed: the channel cannot carry another frame.
        self.broken = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes, fds: Sequence[int] = ()) -> None:
        """Send all of ``data``; ``fds`` ride on its first bytes (SCM_RIGHTS)."""
        try:
            if fds:
                sent = socket.send_fds(self.sock, [data], list(fds))
                data = data[sent:]
            if data:
                self.sock.sendall(data)
        except OSError as exc:
            self.broken = True
            raise ChannelClosed(f"cannot write to {self.name}: {exc}") from None

    def receive(self) -> bytes:
        """What arrived (blocking); ``b""`` once the peer hung up or the read failed."""
        try:
            return self.sock.recv(READ_SIZE)
        except OSError:  # ECONNRESET included: the peer closed with our data unread
            return b""

    def receive_with_fds(self) -> tuple[bytes, list[int]]:
        """Like ``receive``, plus the descriptors that came with the bytes."""
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, READ_SIZE, MAX_FDS_PER_READ)
        except OSError:
            return b"", []
        return data, list(fds)

    def readable(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds (None: forever) for something to read."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(None if timeout is None else timeout * 1000))

    def close(self) -> None:
        try:
            # shutdown first: a plain close() while another thread is blocked in
            # recv() on this socket neither wakes it nor tells the peer.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class Feedable(Protocol):
    """The receiving side of an ``Endpoint``."""

    @property
    def closed(self) -> Exception | None: ...

    def feed(self, data: bytes) -> None: ...


def pump(endpoint: Feedable, transport: SocketTransport, timeout: float | None = None) -> bool:
    """Read and process what arrives within ``timeout``; False once the channel is closed."""
    if endpoint.closed is not None:
        return False
    if timeout is not None and not transport.readable(timeout):
        return True
    endpoint.feed(transport.receive())
    return endpoint.closed is None


def serve_forever(endpoint: Feedable, transport: SocketTransport) -> None:
    """Serve until the peer hangs up (protocol errors propagate)."""
    while pump(endpoint, transport):
        pass
