"""Helpers shared by the tests: a real test plugin distribution, process checks."""

from __future__ import annotations

import configparser
import contextlib
import fcntl
import os
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent

TEST_ACTIONS = {
    "test.print": "testplugins_actions:PrintAction",
    "test.raise": "testplugins_actions:RaiseAction",
    "test.exit": "testplugins_actions:ExitAction",
    "test.sys_exit": "testplugins_actions:SysExitAction",
    "test.segfault": "testplugins_actions:SegfaultAction",
    "test.kill_self": "testplugins_actions:KillSelfAction",
    "test.spawn_sleeper": "testplugins_actions:SpawnSleeperAction",
    "test.touch": "testplugins_actions:TouchAction",
    "test.unserializable": "testplugins_actions:UnserializableAction",
    "test.context": "testplugins_actions:ContextAction",
    "test.old_style": "testplugins_actions:OldStyleAction",
    "test.counter": "testplugins_actions:CounterAction",
    "test.imported_where": "testplugins_actions:ImportedWhereAction",
    "test.env_leak": "testplugins_actions:EnvLeakAction",
    "test.kwargs": "testplugins_actions:KwargsAction",
    "test.big": "testplugins_actions:BigAction",
    "test.result_error": "testplugins_actions:ResultErrorAction",
    "test.reuse_echo": "testplugins_actions:ReuseEchoAction",
    "test.reuse_fail": "testplugins_actions:ReuseFailAction",
    "test.recurse": "testplugins_actions:RecurseAction",
    "test.reuse_sleeper": "testplugins_actions:ReuseSleeperAction",
    "test.reuse_context": "testplugins_actions:ReuseContextAction",
    "test.context_in_thread": "testplugins_actions:ContextInThreadAction",
    "test.log_secrets": "testplugins_actions:LogSecretsAction",
    "test.rich_values": "testplugins_actions:RichValuesAction",
    "test.money_param": "testplugins_actions:MoneyParamAction",
    "test.reuse_rich": "testplugins_actions:ReuseRichAction",
    "test.limits": "testplugins_actions:LimitsAction",
    "test.fan_out": "testplugins_actions:FanOutAction",
    "test.nested_secret": "testplugins_actions:NestedSecretAction",
    "test.cooperative": "testplugins_actions:CooperativeAction",
    "test.size": "testplugins_actions:SizeAction",
    "test.sandbox_steps": "testplugins_actions:SandboxStepsAction",
    "test.broken": "testplugins_broken:Anything",
    "test.find_secrets": "testplugins_secrets:FindSecretsAction",
    "attack.read": "testplugins_attacks:ReadAction",
    "attack.write": "testplugins_attacks:WriteAction",
    "attack.connect": "testplugins_attacks:ConnectAction",
    "attack.kill": "testplugins_attacks:KillAction",
    "attack.daemon": "testplugins_attacks:DaemonAction",
    "attack.fork_bomb": "testplugins_attacks:ForkBombAction",
    "attack.processes": "testplugins_attacks:ProcessesAction",
    "attack.hold_secret": "testplugins_attacks:HoldSecretAction",
    "attack.whoami": "testplugins_attacks:WhoAmIAction",
    "attack.memory_bomb": "testplugins_attacks:MemoryBombAction",
    "attack.serve": "testplugins_attacks:ServeAction",
    "attack.terminals": "testplugins_attacks:TerminalsAction",
    "attack.spin": "testplugins_attacks:SpinAction",
    "attack.reuse": "testplugins_attacks:ReuseAction",
    "attack.socket": "testplugins_attacks:SocketAction",
    "attack.datagram": "testplugins_attacks:DatagramAction",
    "test.hostile.sockets": "testplugins_hostile:ChannelSocketsAction",
    "test.hostile.malformed": "testplugins_hostile:MalformedMessageAction",
    "test.hostile.long_lines": "testplugins_hostile:LongLinesAction",
    "test.hostile.no_newline": "testplugins_hostile:NoNewlineAction",
    "test.hostile.flood": "testplugins_hostile:FloodAction",
    "test.hostile.log_flood": "testplugins_hostile:LogFloodAction",
    "test.hostile.big_exception": "testplugins_hostile:BigExceptionAction",
    "test.hostile.big_error_result": "testplugins_hostile:BigErrorResultAction",
}


def install_plugin(
    site: Path,
    dist: str,
    version: str,
    modules: dict[str, str],
    entry_points: dict[str, str],
) -> Path:
    """Make ``site`` hold a real distribution: modules plus a .dist-info with entry points.

    World-readable, as an installed environment is (pytest makes its
    directories 0700): sandboxed hosts read it as an unprivileged uid.
    """
    site.mkdir(parents=True, exist_ok=True)
    site.chmod(0o755)
    for name, source in modules.items():
        (site / f"{name}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = ["[mistral.actions]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


def register_source_package(site: Path, source_dir: Path) -> tuple[str, ...]:
    """Make a source checkout of a plugin importable with its real entry points.

    Writes a .dist-info (name, version, entry points from the package's
    setup.cfg) into ``site``; returns the import paths a host needs.
    """
    parser = configparser.ConfigParser()
    parser.read(source_dir / "setup.cfg")
    raw = parser["options.entry_points"]["mistral.actions"]
    pairs = [line.split("=", 1) for line in raw.strip().splitlines()]
    entry_points = {k.strip(): v.strip() for k, v in pairs}
    meta = parser["metadata"]
    install_plugin(site, meta["name"], meta["version"], {}, entry_points)
    return (str(site), str(source_dir))


def serve_host() -> tuple[socket.socket, subprocess.Popen[bytes]]:
    """A real ``action-host --serve`` on a socket pair: our end, and its process."""
    ours, theirs = socket.socketpair()
    proc = subprocess.Popen(
        [sys.executable, "-m", "action_host", "--serve"],
        stdin=theirs.fileno(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    theirs.close()
    return ours, proc


def venv_bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def write_script(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body))
    path.chmod(0o755)
    return path


def process_exists(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def installed_version(python: str, dist: str) -> str | None:
    """The version of ``dist`` installed for interpreter ``python``, or None."""
    import subprocess

    proc = subprocess.run(
        [python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


TUTORIAL_FENCE = re.compile(r"^```\w*\n# file: (?P<path>\S+)\n(?P<body>.*?)^```", re.S | re.M)


def tutorial_plugin(where: Path) -> Path:
    """docs/tutorial.md's ``my-actions`` package, written from the Markdown."""
    for block in TUTORIAL_FENCE.finditer((ROOT / "docs" / "tutorial.md").read_text()):
        target = where / block["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block["body"])
    return where / "my-actions"


CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mistral-action-host-tests"


@contextlib.contextmanager
def cache_lock(name: str) -> Iterator[None]:
    """Hold ``name``'s lock in the tests' cache: two pytest workers (or two
    suites) never build the same cached environment at once."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
