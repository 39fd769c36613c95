"""The warm template ("zygote"): imports once, forks one child per action.

It runs in the environment's own interpreter with the host runtime imported
and ``gc.freeze()`` called, so a forked child starts with all of it already
in memory, shared copy-on-write. Which action modules it imports is the
``--preload`` mode:

* ``used`` (the executor's default): none at start; the executor sends
  ``template.preload`` after an action's first successful run, and the
  template imports that action then. The template holds what its
  environment actually runs, not every plugin installed (the std library
  alone would double its size, and forking and tearing down a child cost
  in proportion), and an action whose import fails or hangs is never
  imported here: its first run in a child proved the import works;
* ``all``: every action at start (``discovery.load_all``);
* ``none``: none; every child imports what it runs.

Children of ``used`` and ``none`` templates resolve a name with the entry
points the template scanned once (``discovery.freeze_entry_points``).

The template itself never runs action code and has no threads (forking a
threaded process is unsafe): one ``select`` loop serves the control channel
and a SIGCHLD wake-up pipe.

Control channel (fd 0 at start, moved to a private descriptor):

* executor -> template ``child.fork``: three descriptors travel with the
  request (SCM_RIGHTS): the child's protocol channel and the write ends of
  its stdout/stderr pipes. The template forks; the child makes itself a
  session leader, takes the descriptors, enters the workdir and environment
  it was given, and serves that one conversation; the template answers the
  child's pid. The executor then talks to the child directly.
* template -> executor ``child.exited``: a child was reaped (raw status).
* template -> executor ``template.ready``: imports done.
* executor -> template ``initialize``: the handshake, once per template;
  its children run the same runtime, so they are not asked again.
* executor -> template ``template.preload``: import these actions now.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import select
import signal
import socket
import sys
import time
from typing import Any, NoReturn

from protocol.endpoint import Endpoint
from protocol.errors import ChannelClosed, InvalidParams, ProtocolError
from protocol.exit_codes import ExitCode
from protocol.plain import (
    CHILD_EXITED,
    FORK_CHILD,
    INITIALIZE,
    PRELOAD,
    TEMPLATE_READY,
    PlainHandlers,
)
from protocol.transport import SocketTransport, wait_adopted

from . import discovery, lifeline, limits, logs, request_context, sandbox
from .handlers import HostContext, initialize
from .runner import takes_context
from .serve import Rehearsal, serve

_FDS_PER_CHILD = 3


class Template:
    def __init__(self, control_fd: int, preload: str, sandbox_json: str | None = None) -> None:
        started = time.perf_counter()
        # Not readable through /proc by anyone but root (another template of
        # the same uid, say): our memory holds every child's start.
        sandbox.not_dumpable()
        #: The children's sandbox, prepared once (the launcher confined us already).
        self.sandbox: sandbox.Prepared | None = None
        if sandbox_json is not None:
            self.sandbox = sandbox.prepare(sandbox.Spec.from_wire(json.loads(sandbox_json)))
        if preload == "all":
            self.catalog = discovery.load_all()
        else:
            discovery.freeze_entry_points()
            self.catalog = discovery.Catalog()
        self.control = SocketTransport(socket.socket(fileno=control_fd), "executor")
        self.fds: collections.deque[int] = collections.deque()
        self.children: set[int] = set()  # forked, not yet reaped
        #: our children's pids as the executor sees them (we may be pid 1 of a
        #: pid namespace of our own: the launcher starts templates so)
        self.global_pid: dict[int, int] = {}
        self.handlers: PlainHandlers[Template] = PlainHandlers()
        self.handlers.register(FORK_CHILD)(Template.fork_child)
        if preload == "used":
            self.handlers.register(PRELOAD)(Template.preload)
        # One handshake per template: its children run this very runtime and
        # inherit what it learnt (the executor's frame size limit).
        self.state = HostContext(catalog=self.catalog)
        self.handlers.register(INITIALIZE)(lambda _self, params: initialize(self.state, params))
        self.endpoint = Endpoint(self.control, self.handlers, context=self, name="executor")
        self.wakeup_r, self.wakeup_w = os.pipe()
        os.set_blocking(self.wakeup_w, False)
        os.set_blocking(self.wakeup_r, False)
        signal.set_wakeup_fd(self.wakeup_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        logs.install(None)  # children only attach their channel
        for cls in (*self.catalog.classes.values(), Rehearsal):
            _prime(cls)
        request_context.prime()
        gc.collect()
        gc.freeze()  # keep imported objects' pages shared with the children
        self.endpoint.notify(
            TEMPLATE_READY,
            {
                "pid": _own_global_pid(),
                "preloaded_actions": len(self.catalog.classes),
                "seconds": time.perf_counter() - started,
            },
        )

    def fork_child(self, params: dict[str, Any]) -> dict[str, Any]:
        """``child.fork``: params are ``ForkChildParams``, the answer ``ForkChildResult``."""
        if len(self.fds) < _FDS_PER_CHILD:
            raise InvalidParams(
                f"child.fork needs {_FDS_PER_CHILD} descriptors sent with SCM_RIGHTS, "
                f"got {len(self.fds)}"
            )
        channel, out_w, err_w = (self.fds.popleft() for _ in range(_FDS_PER_CHILD))
        uid = params["uid"]
        try:
            prepared = self._check_sandbox(params["sandbox"])
            if prepared is not None:
                prepared.check_uid(uid)
        except (InvalidParams, sandbox.SandboxError) as exc:
            for fd in (channel, out_w, err_w):
                os.close(fd)
            raise InvalidParams(str(exc)) from None
        parent = os.getpid()
        pid = sandbox.fork(prepared)  # into a new pid namespace when the sandbox has one
        if pid == 0:
            self._become_child(channel, out_w, err_w, params, uid, parent, prepared)
        self.children.add(pid)
        for fd in (channel, out_w, err_w):
            os.close(fd)
        global_pid = self.global_pid[pid] = _global_pid_of_child(pid)
        return {"pid": global_pid}

    def preload(self, params: dict[str, Any]) -> None:
        """``template.preload``: import these actions for the children to come.

        A failure is only logged (to the template's log): the children import
        the action themselves, as before.
        """
        for name in params["actions"]:
            if name in self.catalog.classes:
                continue
            try:
                cls = discovery.load_one(name)
            except Exception as exc:
                sys.stderr.write(f"action-host template: could not preload {name!r}: {exc}\n")
                continue
            self.catalog.classes[name] = cls
            _prime(cls)
        gc.collect()
        gc.freeze()

    def kill_children(self) -> None:
        """The executor is gone: every child and what it started goes too."""
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in list(self.children):  # reaped here, not left to whoever adopts them
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    def _check_sandbox(self, wanted: dict[str, Any] | None) -> sandbox.Prepared | None:
        """The template's own sandbox, which the request must name: a template
        serves the one policy it was started (and confined) with."""
        if wanted is None and self.sandbox is None:
            return None
        if wanted is None or self.sandbox is None or sandbox.Spec.of(wanted) != self.sandbox.spec:
            raise InvalidParams("child.fork: a template serves one sandbox policy; start another")
        return self.sandbox

    def _become_child(
        self,
        channel: int,
        out_w: int,
        err_w: int,
        params: dict[str, Any],
        uid: int | None,
        parent: int,
        prepared: sandbox.Prepared | None,
    ) -> NoReturn:
        try:
            # a dead template takes its children along; in a new pid namespace
            # the parent is invisible (getppid() is 0)
            in_pidns = prepared is not None and prepared.pidns_fd is not None
            lifeline.exit_with_parent(0 if in_pidns else parent)
            if not wait_adopted(channel):  # touch nothing before we are in our cgroup
                os._exit(ExitCode.PARENT_GONE)
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for fd in (self.wakeup_r, self.wakeup_w, *self.fds):
                os.close(fd)
            self.control.sock.close()  # our copy only: shutdown() would end the template's too
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.close(out_w)
            os.close(err_w)
            if prepared is not None:
                sandbox.enter(prepared, uid, params["workdir"])
            else:
                os.chdir(params["workdir"])
            os.environ.clear()
            os.environ.update(params["environ"])
            limits.apply(params["limits"])
            # The frozen heap stays frozen: a full collection in the child would
            # touch, and so copy, every page it shares with the template.
        except BaseException as exc:
            os.write(2, f"action-host child setup failed: {exc!r}\n".encode())
            os._exit(ExitCode.CHILD_SETUP_FAILED)
        state = HostContext(catalog=self.catalog, max_frame_size=self.state.max_frame_size)
        serve(channel, state, rehearsal=params["rehearse"])

    def _reap(self) -> None:
        try:
            os.read(self.wakeup_r, 4096)
        except BlockingIOError:
            pass
        while True:
            try:
                # Peek first: while the exited child is an unreaped zombie its pid,
                # and so its process group id, cannot be reused by anyone else,
                # so killing what the action left running cannot hit a stranger.
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            try:
                os.killpg(info.si_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _pid, status = os.waitpid(info.si_pid, 0)
            self.children.discard(info.si_pid)
            pid = self.global_pid.pop(info.si_pid, info.si_pid)
            self.endpoint.notify(CHILD_EXITED, {"pid": pid, "status": status})

    def loop(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.control.fileno(), self.wakeup_r], [], [])
            except InterruptedError:
                continue
            if self.wakeup_r in ready:
                self._reap()
            if self.control.fileno() in ready:
                data, fds = self.control.receive_with_fds()
                self.fds.extend(fds)
                self.endpoint.feed(data)
                if not data:
                    return


def _own_global_pid() -> int:
    """Our pid in the executor's pid namespace (the host's /proc is ours)."""
    try:
        return int(os.readlink("/proc/self"))
    except (OSError, ValueError):
        return os.getpid()


def _global_pid_of_child(local: int) -> int:
    """``local`` (our child, in our own pid namespace) in the executor's: the
    child whose NSpid names ``local`` one level below the executor's."""
    if os.getpid() != 1:
        return local  # we share the executor's pid namespace
    me = _own_global_pid()
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            candidates = f.read().split()
    except OSError:
        return local
    for candidate in reversed(candidates):  # the newest last
        try:
            with open(f"/proc/{candidate}/status") as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        levels = line.split()[1:]
                        if len(levels) > 1 and levels[1] == str(local):
                            return int(candidate)
                        break
        except OSError:
            continue
    return local


def _prime(cls: type) -> None:
    """Inspect ``run``/``test`` here once, not in every child (``takes_context``)."""
    for method in ("run", "test"):
        if callable(getattr(cls, method, None)):
            takes_context(getattr(cls, method))


def run_template(control_fd: int, preload: str, sandbox_json: str | None = None) -> NoReturn:
    code = ExitCode.OK
    template = None
    try:
        template = Template(control_fd, preload, sandbox_json)
        template.loop()
    except ChannelClosed:
        pass
    except ProtocolError as exc:
        sys.stderr.write(f"action-host template: protocol error, exiting: {exc}\n")
        code = ExitCode.PROTOCOL_ERROR
    except BaseException:
        import traceback

        traceback.print_exc()
        code = ExitCode.INTERNAL_ERROR
    finally:
        if template is not None:  # the executor closed the channel, or died
            template.kill_children()
        sys.stderr.flush()
        os._exit(code)
