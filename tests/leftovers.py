"""A pytest plugin: a session fails when its tests leave a process running.

A process is the session's when it carries one of its signs:

* the marker: a variable named for the session, put in ``os.environ`` when
  it starts, so everything its tests start inherits it;
* a path of the session's own (pytest's temporary directory, one per xdist
  worker, and ``deployments.session_dir()``) in its environment, command
  line or working directory. That is how processes are known that start
  with an environment of their own: the executor gives each action host a
  fresh one, but its HOME, TMPDIR and PYTHONPATH lie in the test's state
  directory and plugin site; executors run as other users start with a
  clean environment, but from the session's world-readable venv and state
  directories.

Out of its sight: a process that drops both (a clean environment, a working
directory and a program elsewhere), and processes in a pid namespace of
their own, which /proc shows all the same but which die with that
namespace's first process anyway.

When the session ends (the teardown of its first session fixture, so after
every other one has closed its executors and services), the session's
processes get ``GRACE`` seconds to end by themselves; the check then kills
those left and fails the session, naming them: an error at the teardown of
the session's last test, which xdist reports like any other. Each xdist
worker is a session of its own, with its own marker and temporary directory:
it never sees the other worker's processes, nor its own (it is excluded);
services the tests did not start (RabbitMQ, PostgreSQL) carry no sign.
"""

from __future__ import annotations

import os
import pwd
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from deployments import BASE, PREFIX
from proc_watch import cmdline, cwd, environ, live_pids, names_any, running, start_time

#: How long a process the tests left may take to end by itself (a host
#: told to stop, a helper killed a moment ago).
GRACE = 5.0
MARKER_PREFIX = "ACTION_HOST_TEST_SESSION_"
_MARKER = pytest.StashKey[str]()


@dataclass(frozen=True)
class Signs:
    """What marks the session's processes."""

    marker: bytes
    paths: tuple[bytes, ...]

    def found_on(self, pid: int) -> bool:
        marked = any(entry.startswith(self.marker) for entry in environ(pid))
        return marked or names_any(pid, self.paths)


@dataclass(frozen=True)
class LeftProcess:
    pid: int
    user: str
    cwd: str
    cmdline: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.user}, in {self.cwd or '?'}): {self.cmdline}"


def pytest_configure(config: pytest.Config) -> None:
    name = f"{MARKER_PREFIX}{uuid.uuid4().hex[:12]}"
    os.environ[name] = str(os.getpid())
    config.stash[_MARKER] = name


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.pop(config.stash.get(_MARKER, ""), None)


def session_signs(config: pytest.Config, basetemp: str) -> Signs:
    deployments = os.path.join(BASE, f"{PREFIX}{os.getpid()}-")
    return Signs(
        marker=f"{config.stash[_MARKER]}=".encode(),
        paths=(f"{basetemp.rstrip('/')}/".encode(), deployments.encode()),
    )


def _describe(pid: int) -> LeftProcess:
    try:
        user = pwd.getpwuid(os.stat(f"/proc/{pid}").st_uid).pw_name
    except (OSError, KeyError):
        user = "?"
    return LeftProcess(pid, user, cwd(pid), cmdline(pid))


def left_behind(signs: Signs, grace: float = GRACE) -> list[LeftProcess]:
    """The session's processes still running after ``grace`` seconds, killed."""
    me = os.getpid()
    found = {p: start_time(p) for p in live_pids() if p != me and running(p) and signs.found_on(p)}
    deadline = time.monotonic() + grace
    while any(running(p) for p in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [_describe(p) for p, started in found.items() if running(p) and start_time(p) == started]
    for process in left:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


@pytest.fixture(scope="session", autouse=True)
def no_process_outlives_the_session(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    yield
    left = left_behind(session_signs(request.config, str(tmp_path_factory.getbasetemp())))
    if left:
        listed = "\n".join(f"  {process}" for process in left)
        pytest.fail(
            f"{len(left)} process(es) the tests started were still running {GRACE:g} s "
            f"after the session's last test (killed now; not necessarily this test's: "
            f"the directories name the test that started them):\n{listed}",
            pytrace=False,
        )
