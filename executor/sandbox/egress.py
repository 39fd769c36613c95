"""The ``egress`` network policy: outbound traffic, never to this host.

Hosts under ``egress`` share the host's network namespace (they need its
routes and DNS), so everything that listens on this host is one connect
away: RabbitMQ and PostgreSQL on loopback, services bound to the host's own
addresses, the cloud's metadata service on 169.254.169.254. Landlock
filters TCP by port only and seccomp cannot read the address behind
``connect``'s pointer, so the refusal is made where the address is known:
cgroup BPF programs attached to each template's cgroup (v2), inherited by
every child it forks, so the cost per action is zero.

``connect4/6`` and ``sendmsg4/6`` (UDP) refuse (EPERM):

* loopback (127.0.0.0/8, ::1), the unspecified addresses 0.0.0.0/8 and ::
  (Linux connects those to loopback), link-local 169.254.0.0/16 and
  fe80::/10 (the metadata service), as Mistral's ``[action_std_http]``
  ``denied_cidrs`` does for std.http; multicast (224.0.0.0/4, ff00::/8) and
  broadcast (255.255.255.255, each interface's broadcast address), which this
  host receives too;
* every address of this host, kept current (``addresses.AddressWatcher``);
* the environment's ``egress_deny`` networks; and, when its
  ``egress_allow`` is set, everything outside those;
* the IPv4-mapped IPv6 forms of all of these.

Port 53 of the name servers in /etc/resolv.conf stays open (a resolver on
this host, such as systemd-resolved's 127.0.0.53, would otherwise break
every host name). ``bind4/6`` refuse every explicit bind: an action must
not serve on this host's addresses (seccomp also refuses ``bind`` and
``listen`` under ``egress``, which covers abstract unix names).

The programs are assembled here (no libbpf, no compiler) from the rules.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from executor.errors import ErrorKind, ExecutorError

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine)

_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_PROG_TYPE_CGROUP_SOCK_ADDR = 18
#: attach type -> address family of the hook
HOOKS = {
    "bind4": (8, 4),
    "bind6": (9, 6),
    "connect4": (10, 4),
    "connect6": (11, 6),
    "sendmsg4": (14, 4),
    "sendmsg6": (15, 6),
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Refused for every action under ``egress`` (Mistral's std.http defaults).
ALWAYS_DENIED = (
    "127.0.0.0/8",
    "0.0.0.0/8",
    "169.254.0.0/16",
    "224.0.0.0/4",  # multicast and the limited broadcast: they reach this host too
    "255.255.255.255/32",
    "::1/128",
    "::/128",
    "fe80::/10",
    "ff00::/8",
)


class EgressUnavailable(ExecutorError, OSError):
    """The egress hooks cannot be loaded or attached here (``OSError``'s errno says why)."""

    kind = ErrorKind.HOST_START_FAILED


@dataclass(frozen=True)
class Rules:
    """What one template's actions may reach."""

    deny: tuple[Network, ...]
    #: empty: everything not denied
    allow: tuple[Network, ...] = ()
    #: (address, port 53 stays open)
    resolvers: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()

    @classmethod
    def build(
        cls,
        host_addresses: Iterable[ipaddress.IPv4Address | ipaddress.IPv6Address],
        deny: Sequence[str] = (),
        allow: Sequence[str] = (),
        resolvers: Sequence[str] = (),
    ) -> Rules:
        denied = [ipaddress.ip_network(c, strict=False) for c in (*ALWAYS_DENIED, *deny)]
        denied += [ipaddress.ip_network(a) for a in host_addresses]
        return cls(
            tuple(dict.fromkeys(denied)),
            tuple(ipaddress.ip_network(c, strict=False) for c in allow),
            tuple(ipaddress.ip_address(r) for r in resolvers),
        )


def resolv_conf_servers(path: str = "/etc/resolv.conf") -> list[str]:
    servers = []
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        servers.append(str(ipaddress.ip_address(parts[1].split("%")[0])))
                    except ValueError:
                        continue
    except OSError:
        pass
    return servers


# -- a tiny eBPF assembler ---------------------------------------------------

_LDXW = 0x61  # r_dst = *(u32 *)(r_src + off)
_MOV32_REG = 0xBC
_AND32_IMM = 0x54
_JEQ32_IMM = 0x16
_JNE32_IMM = 0x56
_JA = 0x05
_MOV64_IMM = 0xB7
_EXIT = 0x95


def _s32(value: int) -> int:
    return value - (1 << 32) if value > 0x7FFFFFFF else value


class _Asm:
    """Instructions with symbolic jump targets, resolved by ``assemble``."""

    def __init__(self) -> None:
        self.insns: list[tuple[int, int, int, int | str, int]] = []
        self.labels: dict[str, int] = {}
        self._n = 0

    def new_label(self) -> str:
        self._n += 1
        return f"L{self._n}"

    def label(self, name: str) -> None:
        self.labels[name] = len(self.insns)

    def op(self, code: int, dst: int = 0, src: int = 0, off: int | str = 0, imm: int = 0) -> None:
        self.insns.append((code, dst, src, off, imm))

    def jumps_to(self, name: str) -> bool:
        return any(off == name for _code, _dst, _src, off, _imm in self.insns)

    def assemble(self) -> bytes:
        out = []
        for i, (code, dst, src, off, imm) in enumerate(self.insns):
            if isinstance(off, str):
                off = self.labels[off] - i - 1
            out.append(struct.pack("<BBhi", code, (src << 4) | dst, off, _s32(imm)))
        return b"".join(out)


def _le_words(packed: bytes) -> list[int]:
    """Network-order bytes as the 32-bit words a little-endian load sees."""
    return [int.from_bytes(packed[i : i + 4], "little") for i in range(0, len(packed), 4)]


def _match(asm: _Asm, net: Network, offsets: Sequence[int], on_match: str) -> None:
    """Jump to ``on_match`` when the address at ``offsets`` (its words) is in ``net``."""
    words = _le_words(net.network_address.packed)
    masks = _le_words(net.netmask.packed)
    miss = asm.new_label()
    checks = [(o, w, m) for o, w, m in zip(offsets, words, masks, strict=True) if m]
    if not checks:  # /0: everything matches
        asm.op(_JA, off=on_match)
        return
    for n, (offset, word, mask) in enumerate(checks):
        asm.op(_LDXW, 3, 1, offset)
        if mask != 0xFFFFFFFF:
            asm.op(_AND32_IMM, 3, imm=mask)
        last = n == len(checks) - 1
        asm.op(_JEQ32_IMM if last else _JNE32_IMM, 3, off=on_match if last else miss, imm=word)
    asm.label(miss)


def _port_is_53(asm: _Asm, on_match: str, miss: str) -> None:
    asm.op(_LDXW, 4, 1, 24)  # user_port, network order in the low 16 bits
    asm.op(_JEQ32_IMM, 4, off=on_match, imm=int.from_bytes((53).to_bytes(2, "big"), "little"))
    asm.op(_JA, off=miss)


_V4 = (4,)  # bpf_sock_addr.user_ip4
_V6 = (8, 12, 16, 20)  # bpf_sock_addr.user_ip6[4]
_MAPPED_V4 = (20,)  # ::ffff:a.b.c.d: the last word


def _resolver(asm: _Asm, server: Network, offsets: Sequence[int], allow: str) -> None:
    """Port 53 of ``server`` is allowed, whatever the rules below say."""
    skip, hit = asm.new_label(), asm.new_label()
    _match(asm, server, offsets, hit)
    asm.op(_JA, off=skip)
    asm.label(hit)
    _port_is_53(asm, allow, skip)
    asm.label(skip)


def _rules(
    asm: _Asm, rules: Rules, version: int, offsets: Sequence[int], allow: str, deny: str
) -> bool:
    """The checks of one address family; True when they end in a jump (an
    allow list: nothing falls through), which the verifier needs to know."""
    for server in rules.resolvers:
        if server.version == version:
            _resolver(asm, ipaddress.ip_network(server), offsets, allow)
    for net in rules.deny:
        if net.version == version:
            _match(asm, net, offsets, deny)
    if rules.allow:  # an allow list: nothing outside it
        for net in rules.allow:
            if net.version == version:
                _match(asm, net, offsets, allow)
        asm.op(_JA, off=deny)
        return True
    return False


def program(rules: Rules, hook: str) -> bytes:
    """The program of one hook (``HOOKS``) for ``rules``."""
    asm = _Asm()
    allow, deny = "allow", "deny"
    _attach_type, family = HOOKS[hook]
    if hook.startswith("bind"):  # every explicit bind is refused
        asm.op(_MOV64_IMM, 0, imm=0)
        asm.op(_EXIT)
        return asm.assemble()
    if family == 4:
        ends_in_jump = _rules(asm, rules, 4, _V4, allow, deny)
    else:
        not_mapped = asm.new_label()
        for offset, word in zip(_V6[:3], (0, 0, 0xFFFF0000), strict=True):
            asm.op(_LDXW, 3, 1, offset)
            asm.op(_JNE32_IMM, 3, off=not_mapped, imm=word)
        if not _rules(asm, rules, 4, _MAPPED_V4, allow, deny):  # ::ffff:a.b.c.d is a.b.c.d
            asm.op(_JA, off=allow)
        asm.label(not_mapped)
        ends_in_jump = _rules(asm, rules, 6, _V6, allow, deny)
    # The verifier refuses unreachable code: each ending only where reached.
    if not ends_in_jump or asm.jumps_to(allow):
        asm.label(allow)
        asm.op(_MOV64_IMM, 0, imm=1)
        asm.op(_EXIT)
    if asm.jumps_to(deny):
        asm.label(deny)
        asm.op(_MOV64_IMM, 0, imm=0)
        asm.op(_EXIT)
    return asm.assemble()


# -- loading and attaching ------------------------------------------------------


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> int:
    if _SYS_BPF is None:
        raise EgressUnavailable(38, f"no bpf syscall number for {os.uname().machine}")
    fd = _libc.syscall(_SYS_BPF, cmd, attr, len(attr))
    if fd < 0:
        err = ctypes.get_errno()
        raise EgressUnavailable(err, f"bpf({cmd}): {os.strerror(err)}")
    return int(fd)


def _load(code: bytes, attach_type: int, log_size: int = 0) -> int:
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(log_size)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(
        "<IIQQIIQ",
        attr,
        0,
        _PROG_TYPE_CGROUP_SOCK_ADDR,
        len(code) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license),
        1 if log_size else 0,  # log_level
        log_size,
        ctypes.addressof(log) if log_size else 0,
    )
    struct.pack_into("<I", attr, 68, attach_type)  # expected_attach_type
    try:
        return _bpf(_BPF_PROG_LOAD, attr)
    except EgressUnavailable as exc:
        if exc.errno != 22:
            raise
        if log_size:
            raise EgressUnavailable(22, f"{exc.strerror}: {log.value.decode()[-2000:]}") from None
        return _load(code, attach_type, 65536)  # again, for the verifier's reasons


def _attach(cgroup_fd: int, prog_fd: int, attach_type: int) -> None:
    attr = ctypes.create_string_buffer(128)
    # flags 0: one program per hook; attaching again replaces it
    struct.pack_into("<IIII", attr, 0, cgroup_fd, prog_fd, attach_type, 0)
    _bpf(_BPF_PROG_ATTACH, attr)


def load_programs_only(rules: Rules | None = None) -> None:
    """Load (and drop) the programs: proves the kernel accepts them."""
    rules = rules or Rules.build(())
    for hook, (attach_type, _family) in HOOKS.items():
        os.close(_load(program(rules, hook), attach_type))


def attach(cgroup_dir: str, rules: Rules) -> None:
    """Attach (or replace) every hook of ``rules`` on a cgroup v2 directory."""
    try:
        cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise EgressUnavailable(
            exc.errno or 2, f"cannot open {cgroup_dir}: {exc.strerror}"
        ) from None
    try:
        for hook, (attach_type, _family) in HOOKS.items():
            prog = _load(program(rules, hook), attach_type)
            try:
                _attach(cgroup_fd, prog, attach_type)
            finally:
                os.close(prog)
    finally:
        os.close(cgroup_fd)
