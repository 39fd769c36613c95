"""The ``egress`` network policy: outbound traffic, never to this host's loopback.

Hosts under ``egress`` share the host's network namespace (they need its
routes and DNS), so their loopback is the host's, where RabbitMQ, PostgreSQL,
Redis and the executor's peers listen. Landlock can restrict TCP by port only
and seccomp cannot read the address behind ``connect``'s pointer, so the
refusal is made where the address is known: cgroup BPF programs
(``connect4/6`` and ``sendmsg4/6`` for UDP) attached to one cgroup v2 directory
refuse (EPERM) 127.0.0.0/8, ::1, the unspecified addresses 0.0.0.0 and ::
(Linux connects those to loopback) and their IPv4-mapped forms. The
template joins that cgroup once; every child it forks inherits it, so the
cost per action is zero.

Set up once per machine by the executor (root): the directory is created if
needed and the programs replace whatever an earlier executor attached.
"""

from __future__ import annotations

import ctypes
import os
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_PROG_TYPE_CGROUP_SOCK_ADDR = 18
_ATTACH = {"connect4": 10, "connect6": 11, "sendmsg4": 14, "sendmsg6": 15}

CGROUP_NAME = "mistral-action-host-egress"


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    if imm > 0x7FFFFFFF:
        imm -= 1 << 32
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


_LDXW, _AND64, _JEQ, _JEQ32, _JNE32, _JA, _MOV64, _EXIT = (
    0x61,
    0x57,
    0x15,
    0x16,
    0x56,
    0x05,
    0xB7,
    0x95,
)
# struct bpf_sock_addr: user_ip4 at 4, user_ip6[4] at 8..20 (network byte order)
_V4 = b"".join(
    [
        _insn(_LDXW, 2, 1, 4),  # 0: r2 = user_ip4
        _insn(_JEQ32, 2, off=4, imm=0),  # 1: 0.0.0.0 -> deny
        _insn(_AND64, 2, imm=0xFF),  # 2: first octet
        _insn(_JEQ, 2, off=2, imm=127),  # 3: 127/8 -> deny
        _insn(_MOV64, 0, imm=1),
        _insn(_EXIT),  # 4, 5: allow
        _insn(_MOV64, 0, imm=0),
        _insn(_EXIT),  # 6, 7: deny (EPERM)
    ]
)
_V6 = b"".join(
    [
        _insn(_LDXW, 2, 1, 8),  # 0
        _insn(_JNE32, 2, off=13, imm=0),  # 1 -> allow
        _insn(_LDXW, 2, 1, 12),  # 2
        _insn(_JNE32, 2, off=11, imm=0),  # 3 -> allow
        _insn(_LDXW, 3, 1, 20),  # 4: r3 = last word
        _insn(_LDXW, 2, 1, 16),  # 5: r2 = third word
        _insn(_JEQ32, 2, off=2, imm=0),  # 6 -> 9 (::x)
        _insn(_JNE32, 2, off=7, imm=0xFFFF0000),  # 7 -> allow (not ::ffff:x)
        _insn(_JA, off=3),  # 8 -> 12 (mapped)
        _insn(_JEQ32, 3, off=7, imm=0),  # 9: :: -> deny
        _insn(_JEQ32, 3, off=6, imm=0x01000000),  # 10: ::1 -> deny
        _insn(_JA, off=3),  # 11 -> allow
        _insn(_JEQ32, 3, off=4, imm=0),  # 12: ::ffff:0.0.0.0 -> deny
        _insn(_AND64, 3, imm=0xFF),  # 13
        _insn(_JEQ, 3, off=2, imm=127),  # 14: ::ffff:127/104 -> deny
        _insn(_MOV64, 0, imm=1),
        _insn(_EXIT),  # 15, 16: allow
        _insn(_MOV64, 0, imm=0),
        _insn(_EXIT),  # 17, 18: deny
    ]
)


class EgressUnavailable(OSError):
    pass


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    if _SYS_BPF is None:
        raise EgressUnavailable(38, f"no bpf syscall number for {os.uname().machine}")
    fd = _libc.syscall(_SYS_BPF, cmd, attr, len(attr))
    if fd < 0:
        err = ctypes.get_errno()
        raise EgressUnavailable(err, f"bpf({cmd}): {os.strerror(err)}")
    return int(fd)


def _load(program: bytes, attach_type: int) -> int:
    insns = ctypes.create_string_buffer(program, len(program))
    license = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(
        "<IIQQ",
        attr,
        0,
        _PROG_TYPE_CGROUP_SOCK_ADDR,
        len(program) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license),
    )
    struct.pack_into("<I", attr, 68, attach_type)  # expected_attach_type
    return _bpf(_BPF_PROG_LOAD, attr)


def _attach(cgroup_fd: int, prog_fd: int, attach_type: int) -> None:
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIII", attr, 0, cgroup_fd, prog_fd, attach_type, 0)
    _bpf(_BPF_PROG_ATTACH, attr)


def cgroup2_root() -> str | None:
    """Where the cgroup v2 hierarchy is mounted (pure or hybrid), if it is."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split()[4]
    except OSError:
        pass
    return None


def load_programs_only() -> None:
    """Load (and drop) the programs: proves the kernel accepts them."""
    for name, attach_type in _ATTACH.items():
        os.close(_load(_V4 if name.endswith("4") else _V6, attach_type))


def setup() -> str:
    """Create the egress cgroup and attach its programs; returns its directory.

    Raises ``EgressUnavailable`` saying what is missing (cgroup v2, root, BPF).
    """
    root = cgroup2_root()
    if root is None:
        raise EgressUnavailable(2, "no cgroup v2 hierarchy is mounted")
    path = os.path.join(root, CGROUP_NAME)
    try:
        os.makedirs(path, exist_ok=True)
        cgroup_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise EgressUnavailable(exc.errno, f"cannot create cgroup {path}: {exc.strerror}") from None
    try:
        for name, attach_type in _ATTACH.items():
            prog = _load(_V4 if name.endswith("4") else _V6, attach_type)
            try:
                _attach(cgroup_fd, prog, attach_type)
            finally:
                os.close(prog)
    finally:
        os.close(cgroup_fd)
    return path
