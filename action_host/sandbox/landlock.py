"""A Landlock ruleset, created once in the template and enforced by each child.

What Landlock adds to the namespaces and the unprivileged uid are its scopes
(ABI >= 6): the action can neither signal a process outside its own Landlock
domain nor connect to an abstract unix socket created outside it. The
abstract socket namespace belongs to the network namespace, so under the
``egress`` and ``host`` policies it is the host's: without the scope an action
could reach a host service listening on an abstract socket.

File system rules are not used: the mount namespace already makes everything
but the private /tmp read-only, and Landlock ignores rules on directories
that a later mount hides, so a rule prepared in the template could not name
the child's own /tmp anyway.
"""

from __future__ import annotations

import ctypes
import os

from . import _sys

_CREATE_RULESET_VERSION = 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1
#: The first ABI with scopes.
MIN_ABI = 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is not enabled."""
    try:
        return _sys.syscall("landlock_create_ruleset", None, 0, _CREATE_RULESET_VERSION)
    except OSError:
        return 0


class Ruleset:
    """A ruleset file descriptor; ``restrict_self`` enforces it on the caller."""

    def __init__(self, fd: int, abi: int) -> None:
        self.fd = fd
        self.abi = abi

    @classmethod
    def build(cls) -> Ruleset:
        abi = abi_version()
        if abi < MIN_ABI:
            raise OSError(95, f"Landlock ABI {abi} has no scopes (needs {MIN_ABI}, Linux 6.12)")
        attr = _RulesetAttr(0, 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
        fd = _sys.syscall(
            "landlock_create_ruleset",
            ctypes.c_void_p(ctypes.addressof(attr)),
            ctypes.sizeof(attr),
            0,
        )
        return cls(fd, abi)

    def restrict_self(self) -> None:
        """Enforce on this process and its future children (needs no_new_privs)."""
        _sys.syscall("landlock_restrict_self", self.fd, 0)
        os.close(self.fd)
