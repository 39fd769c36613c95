"""The host's side of the protocol, driven over a real socket, and bad hosts."""

import os
import sys
from pathlib import Path

import pytest
from helpers import serve_host, write_script

from executor.deadline import NEVER
from executor.environments.model import Environment
from executor.hosts.session import HostSession, SessionFailed
from executor.hosts.spawn import start_host
from executor.layout import StateLayout
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.runtime import SandboxRuntime
from protocol import PROTOCOL_VERSION
from protocol.endpoint import Endpoint
from protocol.errors import VersionMismatch
from protocol.handlers import Handlers
from protocol.messages import InitializeParams
from protocol.methods import INITIALIZE
from protocol.transport import SocketTransport, pump


@pytest.fixture
def raw_host():
    ours, proc = serve_host()
    endpoint = Endpoint(SocketTransport(ours), name="host")
    yield endpoint
    ours.close()
    proc.wait(10)


def test_the_handshake_refuses_another_protocol_version_naming_both(raw_host):
    future = raw_host.call(
        INITIALIZE,
        InitializeParams(
            protocol_version="0.9",
            runtime_version="0.0.1",
            executor_pid=os.getpid(),
            max_frame_size=1000,
        ),
    )
    while not future.done():
        pump(raw_host, raw_host.transport, 5)
    with pytest.raises(VersionMismatch) as info:
        future.result()
    assert "0.9" in info.value.message and PROTOCOL_VERSION in info.value.message
    assert info.value.data == {"executor": "0.9", "host": PROTOCOL_VERSION}


def test_the_handshake_reports_the_hosts_pid_and_interpreter(raw_host):
    future = raw_host.call(
        INITIALIZE,
        InitializeParams(
            protocol_version=PROTOCOL_VERSION,
            runtime_version="x",
            executor_pid=1,
            max_frame_size=1000,
        ),
    )
    while not future.done():
        pump(raw_host, raw_host.transport, 5)
    result = future.result()
    assert result.pid != os.getpid()
    assert result.interpreter == sys.executable
    assert "action.run" in result.capabilities


def _bad_host(tmp_path: Path, code: str) -> Environment:
    program = tmp_path / "bad_host.py"
    program.write_text(code)
    wrapper = write_script(tmp_path / "python", f"#!/bin/sh\nexec {sys.executable} {program}\n")
    return Environment("bad", str(wrapper))


def _session(tmp_path, env):
    layout = StateLayout(str(tmp_path))
    confinement = SandboxRuntime(layout).confine(env, SandboxPolicy(enabled=False), "spawn")
    host = start_host(env, layout, confinement)
    return host, HostSession(host, handlers=Handlers(), max_frame_size=1 << 20)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("b'\\x00\\x00\\x00\\x03\\xc1\\xc1\\xc1'", "not valid msgpack"),
        ("b'\\x7f\\xff\\xff\\xff'", "exceeds the maximum frame size"),
        ("b'\\x00\\x00\\x00\\x10abc'", "in the middle of a frame"),
    ],
    ids=["garbage", "oversize", "truncated"],
)
def test_a_host_sending_a_broken_frame_is_a_protocol_error_not_a_hang(tmp_path, payload, expected):
    env = _bad_host(tmp_path, f"import os, sys\nos.write(0, {payload})\nsys.exit(0)\n")
    host, session = _session(tmp_path, env)
    try:
        with pytest.raises(SessionFailed) as info:
            session.handshake(deadline=NEVER)
    finally:
        host.release()
    assert expected in str(info.value)


def test_a_host_that_dies_at_start_shows_what_it_printed(tmp_path):
    env = _bad_host(
        tmp_path,
        "import sys\nprint('cannot import the runtime', file=sys.stderr)\nsys.exit(5)\n",
    )
    host, session = _session(tmp_path, env)
    try:
        with pytest.raises(SessionFailed) as info:
            session.handshake(deadline=NEVER)
    finally:
        host.release()
    assert "exited with code 5" in str(info.value)
    assert "cannot import the runtime" in str(info.value)


def test_action_host_serve_refuses_a_terminal():
    # Run under a pseudo-terminal so fd 0 is a tty.
    import pty

    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "action_host", "--serve"])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 2
    assert b"action-host --inspect" in output
