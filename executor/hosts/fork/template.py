"""``TemplateProcess``: one warm template and its control channel, executor side.

The template (``action-host --template``) runs under the environment's
interpreter with the runtime and the environment's action modules imported;
it forks one child per ``child.fork`` request. The child's channel and
output pipes are made here and handed over with SCM_RIGHTS, so the executor
talks to the child directly and no frame is relayed through the template.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from executor.config import ExecutorConfig
from executor.deadline import Deadline
from executor.environments.model import Environment
from executor.hosts import spawner
from executor.hosts.fork.channels import host_channels
from executor.hosts.fork.child import ForkedHost
from executor.hosts.fork.errors import ForkOutlived, TemplateGone
from executor.hosts.fork.parentage import Parentage
from executor.hosts.fork.template_log import copy_log
from executor.hosts.process import kill_group, returncode_from_status
from executor.hosts.states import TEMPLATE_MOVES, HostState, TemplateState
from executor.layout import StateLayout
from executor.lifecycle import Lifecycle
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.policy import SAFE_PATH, Sandbox, host_environ
from executor.sandbox.runtime import Confinement, SandboxRuntime
from protocol.endpoint import Endpoint
from protocol.errors import ProtocolError, RpcError
from protocol.handlers import Handlers
from protocol.messages import (
    ChildExitedParams,
    ForkChildParams,
    InitializeResult,
    PreloadParams,
    TemplateReadyParams,
)
from protocol.methods import CHILD_EXITED, FORK_CHILD, INITIALIZE, PRELOAD, TEMPLATE_READY
from protocol.transport import SocketTransport, send_adopted

log = logging.getLogger(__name__)

#: Exits reported before their fork's answer, kept per template.
_EARLY_EXITS = 64


class TemplateProcess:
    """One template process. ``start()`` launches it and does the handshake."""

    def __init__(
        self,
        env: Environment,
        config: ExecutorConfig,
        runtime: SandboxRuntime,
        policy: SandboxPolicy | None = None,
    ) -> None:
        self.env = env
        self.config = config
        self.runtime = runtime
        #: the sandbox of every child (a nested run may ask for a stricter one)
        self.policy = policy if policy is not None else config.sandbox_for(env.name)
        self.confinement: Confinement | None = None
        self.layout = StateLayout(config.state_dir)
        self.log_path = self.layout.template_log(env.name)
        self.lifecycle = Lifecycle(
            f"template of {env.name}",
            TemplateState.STARTING,
            TEMPLATE_MOVES,
            final=(TemplateState.DEAD,),
        )
        self.ready_info: TemplateReadyParams | None = None
        self.info: InitializeResult | None = None
        self.children: dict[int, ForkedHost] = {}
        self._early_exits: dict[int, int] = {}
        self._parentage: Parentage | None = None
        self._preloaded: set[str] = set()  # asked for (template.preload)
        self._lock = threading.Lock()
        self.popen: subprocess.Popen[bytes] | None = None
        self.endpoint: Endpoint | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        """The template's pid (a confined template runs under a waiting parent,
        the launcher, whose process group is the template's too)."""
        if self.ready_info is not None:
            return self.ready_info.pid
        return self.popen.pid if self.popen is not None else 0

    @property
    def group(self) -> int:
        """The process group of the template and its launcher."""
        return self.popen.pid if self.popen is not None else 0

    @property
    def dead(self) -> bool:
        return self.lifecycle.state is TemplateState.DEAD

    def start(self) -> TemplateProcess:
        """Start the process, its reader thread, and check its versions once
        (its children run the same runtime, so they are not asked again)."""
        self.layout.ensure()
        confinement = self.confinement = self.runtime.confine(self.env, self.policy, "template")
        ours, theirs = socket.socketpair()
        log_r, log_w = os.pipe()
        try:
            self._launch(confinement, theirs, log_w)
        except BaseException:
            confinement.release()
            ours.close()
            os.close(log_r)
            raise
        finally:
            theirs.close()
            os.close(log_w)
        threading.Thread(
            target=copy_log, args=(log_r, self.log_path), name=f"log-{self.env.name}", daemon=True
        ).start()
        self._open_channel(ours)
        self.info = self._handshake()
        confinement.allow_children(self._most_children(confinement))
        self.lifecycle.change(TemplateState.READY, only_from=(TemplateState.STARTING,))
        return self

    def _most_children(self, confinement: Confinement) -> int:
        """The most children this template can have at once: one id each
        when they have ids of their own, else the executor's runs and spares."""
        if confinement.spec.uids > 1:
            return confinement.spec.uids - 1
        return self.config.max_concurrency + self.config.spare_children

    def _command(self, confinement: Confinement) -> list[str]:
        command = [
            self.env.python,
            *("-m", "action_host", "--template"),
            *("--sandbox", confinement.spec_json()),
        ]
        if confinement.userns is None:  # else pid 1 of its own namespace: the launcher watches
            command += ["--parent-pid", str(os.getpid())]
        if self.config.preload_actions != "none":
            command += ["--preload", self.config.preload_actions]
        return command + self.env.host_arguments(
            self.config.host_config_files, self.config.strict_serialization
        )

    def _launch(self, confinement: Confinement, channel: socket.socket, log_w: int) -> None:
        """The template's process, under its launcher, with ``channel`` as stdin."""
        if confinement.private_filesystem:  # the template's own /tmp: empty, read-only
            environ = host_environ(self.env, home="/tmp", cache_dir="/tmp/.cache")
        else:
            environ = host_environ(self.env, home=self.layout.work, cache_dir=self.layout.cache)
        launch = confinement.command(self._command(confinement), environ, cwd=self.layout.work)
        try:
            self.popen = spawner.popen(
                launch.argv,
                stdin=channel.fileno(),
                stdout=log_w,
                stderr=log_w,
                cwd="/",
                env={"PATH": SAFE_PATH},
                start_new_session=True,
                close_fds=True,
                pass_fds=launch.pass_fds,
            )
        finally:
            launch.close()
        self._parentage = Parentage(self.popen.pid, confined=confinement.userns is not None)

    def _open_channel(self, ours: socket.socket) -> None:
        """The control channel and the thread that reads it."""
        handlers: Handlers[TemplateProcess] = Handlers()
        handlers.register(CHILD_EXITED)(TemplateProcess._on_child_exited)
        handlers.register(TEMPLATE_READY)(TemplateProcess._on_ready)
        transport = SocketTransport(ours, f"template of {self.env.name}")
        self.endpoint = Endpoint(
            transport,
            handlers,
            context=self,
            max_frame_size=self.config.max_frame_size,
            name=f"template of {self.env.name} (pid {self.pid})",
        )
        self._reader = threading.Thread(
            target=self._read, args=(transport,), name=f"template-{self.env.name}", daemon=True
        )
        self._reader.start()

    def _handshake(self) -> InitializeResult:
        assert self.endpoint is not None
        from executor.hosts.session import initialize_params

        future = self.endpoint.call(INITIALIZE, initialize_params(self.config.max_frame_size))
        try:
            return future.result(self.config.template_start_timeout)
        except RpcError:
            self.stop()
            raise
        except Exception as exc:
            self.kill()
            raise TemplateGone(
                f"template of {self.env.name} did not answer the handshake: {exc!r}; "
                f"see {self.log_path}"
            ) from None

    def preload(self, action: str) -> bool:
        """Ask the template to import ``action`` for its later children, once
        (``preload_actions = used``; see action_host/template.py). True when
        asked now: children forked from here on have it."""
        if self.config.preload_actions != "used" or self.endpoint is None:
            return False
        with self._lock:
            if action in self._preloaded:
                return False
            self._preloaded.add(action)
        try:
            self.endpoint.notify(PRELOAD, PreloadParams(actions=[action]))
        except ProtocolError as exc:  # the template is going; its successor starts anew
            log.debug(
                "could not ask the template of %s to preload %s: %s", self.env.name, action, exc
            )
            return False
        return True

    @property
    def alive(self) -> bool:
        return not self.dead and self.popen is not None and self.popen.poll() is None

    def _on_ready(self, params: TemplateReadyParams) -> None:
        self.ready_info = params
        log.debug(
            "template for %s ready in %.3f s (%d actions preloaded)",
            self.env.name,
            params.seconds,
            params.preloaded_actions,
        )

    def _on_child_exited(self, params: ChildExitedParams) -> None:
        with self._lock:
            host = self.children.pop(params.pid, None)
            if host is None:
                # A child may exit before its fork's answer arrives; a few such
                # are kept, never an unbounded number (the template is not trusted).
                if len(self._early_exits) >= _EARLY_EXITS:
                    self._early_exits.pop(next(iter(self._early_exits)))
                self._early_exits[params.pid] = params.status
                return
        host.lifecycle.change(HostState.EXITED, returncode_from_status(params.status))

    def _read(self, transport: SocketTransport) -> None:
        assert self.endpoint is not None
        try:
            while True:
                data = transport.receive()
                self.endpoint.feed(data)
                if not data:
                    break
        except ProtocolError as exc:
            log.warning("template for %s failed: %s", self.env.name, exc)
        self._mark_dead()

    def _mark_dead(self) -> None:
        with self._lock:
            self.lifecycle.change(TemplateState.DEAD)
            orphans = list(self.children.values())
            self.children.clear()
        for host in orphans:  # their exit statuses are unknowable now
            host.lifecycle.change(HostState.LOST)

    def fork(
        self, deadline: Deadline, rehearse: bool, on_release: Callable[[ForkedHost, bool], None]
    ) -> ForkedHost:
        """One child, forked now; ``TemplateGone`` if the template does not answer."""
        confinement = self.confinement  # (kill() may clear it meanwhile)
        if self.dead or self.endpoint is None or confinement is None:
            raise TemplateGone(f"template of {self.env.name} is gone")
        sandbox = self._sandbox(confinement)
        ours, out_r, err_r, future = self._ask_fork(confinement, sandbox, rehearse)
        try:
            pid, pidfd = self._forked(future, deadline, sandbox)
        except Exception:
            ours.close()
            os.close(out_r)
            os.close(err_r)
            raise
        host = ForkedHost(pid, ours, out_r, err_r, sandbox, on_release, pidfd)
        self._adopt(pid, host, sandbox)
        return host

    def _ask_fork(
        self, confinement: Confinement, sandbox: Sandbox, rehearse: bool
    ) -> tuple[socket.socket, int, int, Future[Any]]:
        """Ask the template for a child, handing over the child's ends of its
        channel and pipes; our ends and the answer to wait for come back."""
        assert self.endpoint is not None
        ours, theirs, out_r, out_w, err_r, err_w = host_channels(sandbox)
        try:
            future = self.endpoint.call(
                FORK_CHILD,
                ForkChildParams(
                    workdir=sandbox.workdir,
                    environ=sandbox.environ,
                    rehearse=rehearse,
                    limits=self.env.host_limits(self.config.limits),
                    sandbox=confinement.spec,
                    uid=sandbox.uid,
                ),
                fds=[theirs.fileno(), out_w, err_w],
            )
        except BaseException:
            ours.close()
            os.close(out_r)
            os.close(err_r)
            sandbox.cleanup()
            raise
        finally:
            theirs.close()
            os.close(out_w)
            os.close(err_w)
        return ours, out_r, err_r, future

    def _forked(
        self, future: Future[Any], deadline: Deadline, sandbox: Sandbox
    ) -> tuple[int, int | None]:
        """The pid the template forked and a pidfd of it, once proven its child."""
        wait = deadline.capped(self.config.template_fork_timeout)
        try:
            pid: int = future.result(wait).pid
            return pid, self._verified(pid)
        except Exception as exc:
            if isinstance(exc, TimeoutError) and wait < self.config.template_fork_timeout:
                # Its channel is closed: the late child exits at once; its id and
                # cgroup are given back only once it is gone (never shared).
                future.add_done_callback(
                    lambda done: threading.Thread(
                        target=self._put_down_late, args=(done, sandbox), daemon=True
                    ).start()
                )
                raise ForkOutlived(
                    f"the run's deadline passed while the template of {self.env.name} "
                    "forked its host"
                ) from None
            sandbox.cleanup()
            raise TemplateGone(f"template of {self.env.name} did not fork: {exc!r}") from None

    def _adopt(self, pid: int, host: ForkedHost, sandbox: Sandbox) -> None:
        """The new host becomes one of the template's children, unless it (or
        the template) already ended; then it goes into its own cgroup, and only
        then is it told to go on (``ADOPTED``: it waits for that)."""
        with self._lock:
            status = self._early_exits.pop(pid, None)
            dead = self.dead
            if status is None and not dead:
                self.children[pid] = host
        if status is not None:
            host.lifecycle.change(HostState.EXITED, returncode_from_status(status))
            return
        if dead:
            host.lifecycle.change(HostState.LOST)
            return
        if sandbox.slot is not None:
            try:
                sandbox.slot.add(pid)
            except OSError as exc:
                host.kill()
                host.finish()
                raise OSError(exc.errno, f"cannot move host {pid} into its cgroup: {exc}") from None
        send_adopted(host.channel)

    def _put_down_late(self, done: Any, sandbox: Sandbox) -> None:
        """A host forked for a run that had already timed out: killed, waited
        for (its pidfd), then its sandbox given back."""
        pidfd = None
        try:
            pid = done.result().pid
            pidfd = self._verified(pid)
            if pidfd is not None:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                select.select([pidfd], [], [], self.config.template_fork_timeout)
            with self._lock:
                self._early_exits.pop(pid, None)
        except Exception as exc:  # the template went meanwhile: it took its children along
            log.debug("late host of %s: %s", self.env.name, exc)
        finally:
            if pidfd is not None:
                os.close(pidfd)
            sandbox.cleanup()

    def _verified(self, pid: int) -> int:
        """A pidfd of ``pid``, proven the template's child (``Parentage``)."""
        if self._parentage is None:
            raise TemplateGone(f"template of {self.env.name} has no process")
        return self._parentage.verified_child(pid)

    def _sandbox(self, confinement: Confinement) -> Sandbox:
        """The next child's working directory, environment, id and cgroup; all
        given back when its host is finished (``Sandbox.cleanup``)."""
        uid = confinement.take_uid()
        slot = None
        try:
            slot = confinement.take_slot()
            sandbox = Sandbox.create(
                self.env, self.layout, confinement.private_filesystem, slot, uid
            )
        except BaseException:
            confinement.give_back(slot)
            confinement.give_back_uid(uid)
            raise
        if sandbox.host_dir is not None and confinement.userns is not None:
            kid = confinement.outside_id(uid)
            os.chown(sandbox.host_dir, kid, kid)
        sandbox.on_cleanup(lambda: confinement.give_back(slot))
        sandbox.on_cleanup(lambda: confinement.give_back_uid(uid))
        return sandbox

    def _release(self) -> None:
        """The template is gone: its cgroups, hooks and ids go too."""
        confinement, self.confinement = self.confinement, None
        if confinement is not None:
            confinement.release()

    def stop(self) -> None:
        """Ask the template to exit (EOF on its channel), then make sure it did."""
        self.lifecycle.change(
            TemplateState.RETIRING, only_from=(TemplateState.STARTING, TemplateState.READY)
        )
        if self.endpoint is not None:
            self.endpoint.close()
        if self.popen is not None:
            try:
                self.popen.wait(2.0)
            except subprocess.TimeoutExpired:
                kill_group(self.group)
                self.popen.wait()
            kill_group(self.group)
        if self._reader is not None:
            self._reader.join(2.0)
        self._mark_dead()
        self._release()

    def kill(self) -> None:
        if self.popen is not None:
            kill_group(self.group)
            try:
                self.popen.wait(5.0)
            except subprocess.TimeoutExpired:
                pass
        self._mark_dead()
        if self.endpoint is not None:
            self.endpoint.close()
        self._release()
