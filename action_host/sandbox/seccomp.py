"""A seccomp filter, assembled as classic BPF by hand (no libseccomp).

Built once in the template (``Filter.build``), loaded by each child with one
``seccomp(SECCOMP_SET_MODE_FILTER)`` call. Default allow; the calls no action
needs and that widen an attack (kernel and mount control, tracing other
processes, new namespaces, BPF, keyrings, io_uring...) fail with EPERM, so a
library probing for them degrades instead of dying. Sockets are unix, IPv4,
IPv6 and routing netlink only (EAFNOSUPPORT for the rest: vsock reaches the
hypervisor whatever the network namespace). ``clone3`` gets ENOSYS so
the C library falls back to ``clone``, whose flags a filter can read; ``clone``
with any ``CLONE_NEW*`` flag is refused.
"""

from __future__ import annotations

import ctypes
import errno
import struct
from collections.abc import Mapping

from . import _sys

# Syscall numbers of the refused calls, per architecture.
# Calls added since Linux 5.1 have one number on every architecture (424 and up).
_UNIFIED = {
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "mount_setattr": 442,
}
_X86_64 = {
    "ptrace": 101,
    "syslog": 103,
    "uselib": 134,
    "personality": None,
    "vhangup": 153,
    "pivot_root": 155,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "create_module": 174,
    "init_module": 175,
    "delete_module": 176,
    "get_kernel_syms": 177,
    "query_module": 178,
    "quotactl": 179,
    "nfsservctl": 180,
    "lookup_dcookie": 212,
    "clock_settime": 227,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "kexec_load": 246,
    "unshare": 272,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    **_UNIFIED,
}
_AARCH64 = {
    "ptrace": 117,
    "syslog": 116,
    "vhangup": 58,
    "pivot_root": 41,
    "adjtimex": 171,
    "chroot": 51,
    "acct": 89,
    "settimeofday": 170,
    "mount": 40,
    "umount2": 39,
    "swapon": 224,
    "swapoff": 225,
    "reboot": 142,
    "sethostname": 161,
    "setdomainname": 162,
    "init_module": 105,
    "delete_module": 106,
    "quotactl": 60,
    "lookup_dcookie": 18,
    "clock_settime": 112,
    "add_key": 217,
    "request_key": 218,
    "keyctl": 219,
    "kexec_load": 104,
    "unshare": 97,
    "perf_event_open": 241,
    "fanotify_init": 262,
    "name_to_handle_at": 264,
    "open_by_handle_at": 265,
    "clock_adjtime": 266,
    "setns": 268,
    "process_vm_readv": 270,
    "process_vm_writev": 271,
    "kcmp": 272,
    "finit_module": 273,
    "kexec_file_load": 294,
    "bpf": 280,
    "userfaultfd": 282,
    **_UNIFIED,
}
_ARCHES: dict[str, tuple[int, Mapping[str, int | None], int, int]] = {
    # machine: (AUDIT_ARCH, table, clone, clone3)
    "x86_64": (0xC000003E, _X86_64, 56, 435),
    "aarch64": (0xC00000B7, _AARCH64, 220, 435),
}

#: Every CLONE_NEW* flag (in clone's first argument).
NAMESPACE_FLAGS = (
    _sys.CLONE_NEWNS
    | _sys.CLONE_NEWCGROUP
    | _sys.CLONE_NEWUTS
    | _sys.CLONE_NEWIPC
    | _sys.CLONE_NEWUSER
    | _sys.CLONE_NEWPID
    | _sys.CLONE_NEWNET
    | _sys.CLONE_NEWTIME
)

# classic BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06

_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_RET_KILL_PROCESS = 0x80000000
_X32_BIT = 0x40000000

_SECCOMP_SET_MODE_FILTER = 1


#: socket and socketpair, per architecture (their family argument is checked)
_SOCKET_CALLS = {"x86_64": (41, 53), "aarch64": (198, 199)}
_AF_UNIX, _AF_INET, _AF_INET6, _AF_NETLINK = 1, 2, 10, 16
_NETLINK_ROUTE = 0

#: What a template itself calls to make its children's sandbox (its own
#: profile allows them; they are refused to every action).
TEMPLATE_NEEDS = frozenset({"unshare", "setns", "mount", "mount_setattr"})
_SERVER_CALLS = {"x86_64": {"bind": 49, "listen": 50}, "aarch64": {"bind": 200, "listen": 201}}


def _number(table: Mapping[str, int | None], name: str) -> int | None:
    if name in table:
        return table[name]
    return _SERVER_CALLS.get(_sys.MACHINE, {}).get(name)


def refused_calls() -> list[str]:
    """Names of the refused system calls on this machine (for docs and checks)."""
    arch = _ARCHES.get(_sys.MACHINE)
    if arch is None:
        return []
    return sorted(name for name, nr in arch[1].items() if nr is not None)


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Filter:
    """An assembled program, kept alive (with its buffer) until loaded."""

    def __init__(self, program: bytes) -> None:
        self.count = len(program) // 8
        self._buffer = ctypes.create_string_buffer(program, len(program))
        self._fprog = SockFprog(self.count, ctypes.addressof(self._buffer))

    @classmethod
    def build(cls, profile: str = "action", no_servers: bool = False) -> Filter:
        """``profile`` "action" refuses every call in the tables; "template"
        keeps what a template needs to make its children's namespaces
        (``TEMPLATE_NEEDS``); the children load "action" on top (filters
        stack, the strictest answer wins). ``no_servers`` also refuses
        ``bind`` and ``listen`` (the ``egress`` policy, see docs/security.md)."""
        arch = _ARCHES.get(_sys.MACHINE)
        if arch is None:
            raise OSError(errno.ENOSYS, f"no seccomp filter for machine {_sys.MACHINE}")
        if profile not in ("action", "template"):
            raise ValueError(f"unknown seccomp profile {profile!r}")
        audit_arch, table, clone_nr, clone3_nr = arch
        names = [n for n in table if profile == "action" or n not in TEMPLATE_NEEDS]
        if no_servers:
            names += ["bind", "listen"]
        numbers = sorted({nr for n in names if (nr := _number(table, n)) is not None})
        insns: list[tuple[int, int, int, int]] = []
        _check_arch(insns, audit_arch)
        _no_new_namespaces(insns, clone_nr, clone3_nr)
        _socket_families(insns, *_SOCKET_CALLS[_sys.MACHINE])
        _refused(insns, numbers)
        program = b"".join(struct.pack("<HBBI", *i) for i in insns)
        return cls(program)

    def load(self) -> None:
        """Install in this process (needs no_new_privs, or CAP_SYS_ADMIN)."""
        _sys.syscall(
            "seccomp", _SECCOMP_SET_MODE_FILTER, 0, ctypes.c_void_p(ctypes.addressof(self._fprog))
        )


Program = list[tuple[int, int, int, int]]


def _check_arch(insns: Program, audit_arch: int) -> None:
    """A foreign architecture (e.g. i386 calls on x86_64) gets killed: its
    numbers differ and would slip past the list. Leaves the call's number
    loaded for the rules that follow."""
    insns.append((_LD_W_ABS, 0, 0, 4))  # seccomp_data.arch
    insns.append((_JEQ_K, 1, 0, audit_arch))
    insns.append((_RET_K, 0, 0, _RET_KILL_PROCESS))
    insns.append((_LD_W_ABS, 0, 0, 0))  # seccomp_data.nr
    if _sys.MACHINE == "x86_64":
        insns.append((_JGE_K, 0, 1, _X32_BIT))  # x32 ABI calls
        insns.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))


def _no_new_namespaces(insns: Program, clone_nr: int, clone3_nr: int) -> None:
    """clone3 gets ENOSYS, so libc falls back to clone, whose namespace flags
    are refused."""
    insns.append((_JEQ_K, 0, 1, clone3_nr))
    insns.append((_RET_K, 0, 0, _RET_ERRNO | errno.ENOSYS))
    insns.append((_JEQ_K, 0, 4, clone_nr))
    insns.append((_LD_W_ABS, 0, 0, 16))  # low 32 bits of args[0] (little endian)
    insns.append((_JSET_K, 0, 1, NAMESPACE_FLAGS))
    insns.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
    insns.append((_RET_K, 0, 0, _RET_ALLOW))


def _socket_families(insns: Program, socket_nr: int, socketpair_nr: int) -> None:
    """socket: unix, IPv4, IPv6, and netlink's routing protocol only (no vsock
    to the hypervisor, no packet, key, crypto or diag sockets); socketpair:
    unix only."""
    insns += [
        (_JEQ_K, 0, 10, socket_nr),
        (_LD_W_ABS, 0, 0, 16),  # args[0]: the family
        (_JEQ_K, 7, 0, _AF_UNIX),
        (_JEQ_K, 6, 0, _AF_INET),
        (_JEQ_K, 5, 0, _AF_INET6),
        (_JEQ_K, 0, 2, _AF_NETLINK),
        (_LD_W_ABS, 0, 0, 32),  # args[2]: the protocol
        (_JEQ_K, 2, 1, _NETLINK_ROUTE),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EAFNOSUPPORT),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
        (_RET_K, 0, 0, _RET_ALLOW),
        (_JEQ_K, 0, 4, socketpair_nr),
        (_LD_W_ABS, 0, 0, 16),
        (_JEQ_K, 0, 1, _AF_UNIX),
        (_RET_K, 0, 0, _RET_ALLOW),
        (_RET_K, 0, 0, _RET_ERRNO | errno.EAFNOSUPPORT),
    ]


def _refused(insns: Program, numbers: list[int]) -> None:
    """The refused list: each a compare that jumps to the final EPERM."""
    n = len(numbers)
    for i, nr in enumerate(numbers):
        insns.append((_JEQ_K, n - i, 0, nr))  # to the EPERM after the ALLOW
    insns.append((_RET_K, 0, 0, _RET_ALLOW))
    insns.append((_RET_K, 0, 0, _RET_ERRNO | errno.EPERM))
