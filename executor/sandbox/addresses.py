"""This host's own addresses, read from the kernel and followed as they change.

The ``egress`` policy refuses every address of this host (a service bound
to the host's public address is as much the executor's neighbour as one on
loopback), so the list must be current: ``AddressWatcher`` listens to the
kernel's address notifications (rtnetlink) and calls back on every change.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_RTM_NEWADDR, _RTM_DELADDR, _RTM_GETADDR = 20, 21, 22
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_DONE, _NLMSG_ERROR = 3, 2
_IFA_ADDRESS, _IFA_LOCAL, _IFA_BROADCAST = 1, 2, 4
_RTMGRP_IPV4_IFADDR, _RTMGRP_IPV6_IFADDR = 0x10, 0x100


def _parse(data: bytes, found: set[IPAddress]) -> bool:
    """Addresses of RTM_NEWADDR messages into ``found``; True at NLMSG_DONE."""
    offset = 0
    while offset + 16 <= len(data):
        length, kind, _flags, _seq, _pid = struct.unpack_from("=IHHII", data, offset)
        if length < 16:
            break
        if kind == _NLMSG_DONE:
            return True
        if kind == _NLMSG_ERROR:
            raise OSError("netlink error while listing addresses")
        if kind == _RTM_NEWADDR:
            family, prefixlen = data[offset + 16], data[offset + 17]
            attrs: dict[int, bytes] = {}
            pos = offset + 16 + 8  # ifaddrmsg
            end = offset + length
            while pos + 4 <= end:
                alen, atype = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                attrs[atype] = data[pos + 4 : pos + alen]
                pos += (alen + 3) & ~3
            raw = attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS)
            if raw and family == socket.AF_INET and len(raw) == 4:
                found.add(ipaddress.IPv4Address(raw))
                if prefixlen < 31:  # its subnet's broadcast, configured or not
                    subnet = ipaddress.IPv4Interface((raw, prefixlen)).network
                    found.add(subnet.broadcast_address)
            broadcast = attrs.get(_IFA_BROADCAST)  # its subnet's: this host receives it
            if broadcast and family == socket.AF_INET and len(broadcast) == 4:
                found.add(ipaddress.IPv4Address(broadcast))
            elif raw and family == socket.AF_INET6 and len(raw) == 16:
                found.add(ipaddress.IPv6Address(raw))
        offset += (length + 3) & ~3
    return False


def local_addresses() -> set[IPAddress]:
    """Every address configured on an interface of this network namespace."""
    found: set[IPAddress] = set()
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sock:
        for family in (socket.AF_INET, socket.AF_INET6):
            header = struct.pack("=IHHII", 16 + 8, _RTM_GETADDR, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
            sock.send(header + struct.pack("=BBBBI", family, 0, 0, 0, 0))
            while not _parse(sock.recv(65536), found):
                pass
    return found


class AddressWatcher:
    """Calls ``on_change(addresses)`` whenever this host's addresses change."""

    def __init__(self, on_change: Callable[[set[IPAddress]], None]) -> None:
        self._on_change = on_change
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = False

    def start(self) -> None:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        sock.bind((0, _RTMGRP_IPV4_IFADDR | _RTMGRP_IPV6_IFADDR))
        sock.settimeout(1.0)
        self._sock = sock
        self._thread = threading.Thread(target=self._loop, name="address-watcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        assert self._sock is not None
        while not self._stop:
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                if self._stop:
                    return
                data = b""  # ENOBUFS (a burst overflowed): re-read the whole list
            kinds = set()
            offset = 0
            while offset + 16 <= len(data):
                length, kind = struct.unpack_from("=IH", data, offset)
                kinds.add(kind)
                offset += max(16, (length + 3) & ~3)
            if kinds & {_RTM_NEWADDR, _RTM_DELADDR} or not data:
                try:
                    self._on_change(local_addresses())
                except Exception:
                    log.exception("could not update the egress hooks for new addresses")

    def stop(self) -> None:
        self._stop = True
        if self._sock is not None:
            self._sock.close()
        if self._thread is not None:
            self._thread.join(2.0)
