"""The ``fork`` launcher: a warm template per environment, a fresh child per action.

Per environment one template process (``action-host --template``) is started
lazily under that environment's interpreter; it has the runtime (and the
environment's action modules) imported and frozen, and forks one
single-use child per action. The executor talks to each child directly: the
child's channel and output pipes are made here and handed to the template
with SCM_RIGHTS, so no frame is relayed through the template.

Keeping the response path short (see ``floors.md``): a few *spare* children
are forked and handshaken ahead of demand by a refill thread, so a request
usually finds a ready child; used children are closed and reaped by a reaper
thread, never by the thread that returns the result.

A template that dies or stops answering is replaced; a request whose fork
failed that way is retried on the new template, so none is lost.
"""

from __future__ import annotations

import collections
import logging
import os
import queue
import select
import signal
import socket
import subprocess
import threading
import time
from typing import Any

from protocol.endpoint import Endpoint, Handlers
from protocol.errors import ProtocolError, RpcError
from protocol.messages import (
    ChildExitedParams,
    ForkChildParams,
    InitializeResult,
    TemplateReadyParams,
)
from protocol.methods import CHILD_EXITED, FORK_CHILD, INITIALIZE, TEMPLATE_READY

from executor.config import ExecutorConfig
from executor.environments.model import Environment
from executor.hosts.process import kill_group, returncode_from_status
from executor.sandbox.policy import Sandbox, host_environ
from executor.hosts.session import HostSession, initialize_params

log = logging.getLogger(__name__)


class TemplateGone(RuntimeError):
    """The template died or stopped answering; a new one must take over."""


class ForkedHost:
    """A child of a template, as the executor sees it."""

    def __init__(
        self,
        pid: int,
        channel: socket.socket,
        stdout: int,
        stderr: int,
        sandbox: Sandbox,
        template: TemplateProcess,
        launcher: ForkLauncher,
    ) -> None:
        self.pid = pid
        self.channel = channel
        self.stdout = stdout
        self.stderr = stderr
        self.sandbox = sandbox
        self.template = template
        self.launcher = launcher
        self.exited = threading.Event()
        self.returncode: int | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone, or no pidfd support
            self.pidfd = None

    def kill(self) -> None:
        if self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
        if not self.exited.is_set():  # once reaped, the pid may belong to someone else
            kill_group(self.pid)

    def wait(self, timeout: float) -> int | None:
        if self.exited.wait(0) or not self.template.alive:
            return self._status_without_parent(timeout)
        if self.exited.wait(timeout):
            return self.returncode
        return None

    def _status_without_parent(self, timeout: float) -> int | None:
        if self.exited.is_set():
            return self.returncode
        if self.pidfd is not None:  # we can still see the exit, not its status
            poller = select.poll()
            poller.register(self.pidfd, select.POLLIN)
            poller.poll(timeout * 1000)
        return None

    def release(self) -> None:
        """The run on this host is over (the executor got its answer)."""
        self.launcher.activity.end()
        self.launcher.reap(self)

    def discard(self) -> None:
        """An unused spare: kill it and clean up."""
        self.kill()
        self.launcher.reap(self)

    def finish(self) -> None:
        """Close our ends, let the child exit, kill what it left behind, clean up."""
        try:
            self.channel.close()
        except OSError:
            pass
        if self.wait(2.0) is None and not self.exited.is_set():
            self.kill()  # the template kills its leftovers when it reaps it
            self.wait(2.0)
        pidfd, self.pidfd = self.pidfd, None
        for fd in (self.stdout, self.stderr, pidfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.sandbox.cleanup()


class TemplateProcess:
    """One template process and its control channel."""

    def __init__(self, env: Environment, config: ExecutorConfig) -> None:
        self.env = env
        self.config = config
        self.ready_info: TemplateReadyParams | None = None
        self.children: dict[int, ForkedHost] = {}
        self._early_exits: dict[int, int] = {}
        self._lock = threading.Lock()
        self.dead = False
        ours, theirs = socket.socketpair()
        logs = os.path.join(config.state_dir, "logs")
        os.makedirs(logs, exist_ok=True)
        self.log_path = os.path.join(logs, f"template-{env.name}.log")
        command = [env.python, "-m", "action_host", "--template"]
        if config.preload_actions:
            command.append("--preload")
        home = os.path.join(config.state_dir, "work")
        os.makedirs(home, exist_ok=True)
        with open(self.log_path, "ab") as logfile:
            self.popen = subprocess.Popen(
                command,
                stdin=theirs.fileno(),
                stdout=logfile,
                stderr=logfile,
                cwd=home,
                env=host_environ(env, home=home, cache_dir=os.path.join(config.state_dir, "cache")),
                start_new_session=True,
                close_fds=True,
            )
        theirs.close()
        self.pid = self.popen.pid
        handlers: Handlers[TemplateProcess] = Handlers()
        handlers.register(CHILD_EXITED)(TemplateProcess._on_child_exited)
        handlers.register(TEMPLATE_READY)(TemplateProcess._on_ready)
        self.endpoint = Endpoint(
            ours,
            handlers,
            context=self,
            max_frame_size=config.max_frame_size,
            name=f"template of {env.name} (pid {self.pid})",
        )
        self._reader = threading.Thread(target=self._read, name=f"template-{env.name}", daemon=True)
        self._reader.start()
        self.info = self._handshake()

    def _handshake(self) -> InitializeResult:
        """Check the template's versions once; its children run the same runtime."""
        future = self.endpoint.call(INITIALIZE, initialize_params(self.config.max_frame_size))
        try:
            return future.result(self.config.template_fork_timeout)
        except RpcError:
            self.stop()
            raise
        except Exception as exc:
            self.kill()
            raise TemplateGone(
                f"template of {self.env.name} did not answer the handshake: {exc!r}; "
                f"see {self.log_path}"
            ) from None

    @property
    def alive(self) -> bool:
        return not self.dead

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
                self._early_exits[params.pid] = params.status
                return
        host.returncode = returncode_from_status(params.status)
        host.exited.set()

    def _read(self) -> None:
        sock = self.endpoint.sock
        try:
            while True:
                data = sock.recv(256 * 1024)
                self.endpoint.feed(data)
                if not data:
                    break
        except (OSError, ProtocolError) as exc:
            log.warning("template for %s failed: %s", self.env.name, exc)
        self._mark_dead()

    def _mark_dead(self) -> None:
        with self._lock:
            self.dead = True
            # The children's exit statuses are unknowable now; wait() uses the pidfd.
            self.children.clear()

    def fork(self, launcher: ForkLauncher, timeout: float, rehearse: bool) -> ForkedHost:
        if self.dead:
            raise TemplateGone(f"template of {self.env.name} is gone")
        sandbox = Sandbox.for_config(self.env, self.config)
        ours, theirs = socket.socketpair()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            future = self.endpoint.call(
                FORK_CHILD,
                ForkChildParams(
                    workdir=sandbox.workdir,
                    environ=sandbox.environ,
                    rehearse=rehearse,
                    limits=self.config.limits,
                ),
                fds=[theirs.fileno(), out_w, err_w],
            )
        finally:
            theirs.close()
            os.close(out_w)
            os.close(err_w)
        try:
            pid = future.result(timeout).pid
        except Exception as exc:
            ours.close()
            os.close(out_r)
            os.close(err_r)
            sandbox.cleanup()
            raise TemplateGone(f"template of {self.env.name} did not fork: {exc!r}") from None
        host = ForkedHost(pid, ours, out_r, err_r, sandbox, self, launcher)
        with self._lock:
            status = self._early_exits.pop(pid, None)
            if status is None and not self.dead:
                self.children[pid] = host
        if status is not None:
            host.returncode = returncode_from_status(status)
            host.exited.set()
        return host

    def stop(self) -> None:
        """Ask the template to exit (EOF on its channel), then make sure it did."""
        try:
            self.endpoint.close()
        except OSError:
            pass
        try:
            self.popen.wait(2.0)
        except subprocess.TimeoutExpired:
            kill_group(self.pid)
            self.popen.wait()
        kill_group(self.pid)
        self._reader.join(2.0)

    def kill(self) -> None:
        kill_group(self.pid)
        try:
            self.popen.wait(5.0)
        except subprocess.TimeoutExpired:
            pass
        self._mark_dead()
        self.endpoint.close()


class Activity:
    """Counts runs in flight, so housekeeping can wait for a quiet moment.

    Forking a spare or tearing down a used child while a run is in flight
    competes with that run for the CPUs (1.2 to 1.8 ms of its latency here,
    see floors.md), so both wait until nothing runs, but never longer than
    ``max_wait`` seconds.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.in_flight = 0

    def begin(self) -> None:
        with self._cond:
            self.in_flight += 1

    def end(self) -> None:
        with self._cond:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._cond.notify_all()

    def wait_idle(self, max_wait: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self.in_flight == 0, timeout=max_wait)


class Reaper(threading.Thread):
    """Finishes used children off the response path, in quiet moments."""

    def __init__(self, activity: Activity, max_wait: float) -> None:
        super().__init__(name="host-reaper", daemon=True)
        self.queue: queue.Queue[ForkedHost | None] = queue.Queue()
        self.activity = activity
        self.max_wait = max_wait

    def put(self, host: ForkedHost) -> None:
        self.queue.put(host)

    def run(self) -> None:
        while True:
            host = self.queue.get()
            if host is None:
                return
            if self.queue.qsize() < 16:  # a backlog is reaped at once
                self.activity.wait_idle(self.max_wait)
            try:
                host.finish()
            except Exception:
                log.exception("could not clean up host pid %s", host.pid)

    def drain(self) -> None:
        self.queue.put(None)
        self.join(30)


class LauncherClosed(RuntimeError):
    pass


class ForkLauncher:
    name = "fork"

    def __init__(self, config: ExecutorConfig, handlers: Handlers[Any]) -> None:
        self.config = config
        self.handlers = handlers
        self.templates: dict[str, TemplateProcess] = {}
        self.envs: dict[str, Environment] = {}
        self.spares: dict[str, collections.deque[HostSession]] = collections.defaultdict(
            collections.deque
        )
        self._lock = threading.Lock()
        # One lock per environment: a template that takes seconds to import
        # must not hold up forks for the other environments.
        self._template_locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._wanted = threading.Condition(self._lock)
        self._closed = False
        self._refill_after: dict[str, float] = {}  # env -> no refill before this time
        self._refill_failures: dict[str, int] = {}
        self.activity = Activity()
        self.reaper = Reaper(self.activity, config.housekeeping_delay)
        self.reaper.start()
        self._refiller = threading.Thread(
            target=self._refill_loop, name="spare-refill", daemon=True
        )
        self._refiller.start()

    # -- templates -----------------------------------------------------------

    def _template(self, env: Environment) -> TemplateProcess:
        with self._lock:
            env_lock = self._template_locks[env.name]
        with env_lock:
            with self._lock:
                template = self.templates.get(env.name)
            if template is None or template.dead or template.popen.poll() is not None:
                if self._closed:
                    raise LauncherClosed("the executor is shutting down")
                if template is not None:
                    log.warning("replacing dead template of %s (pid %s)", env.name, template.pid)
                    template.kill()
                template = TemplateProcess(env, self.config)
                with self._lock:
                    self.templates[env.name] = template
            return template

    def _discard_template(self, env: Environment, template: TemplateProcess | None) -> None:
        """Replace ``template`` (dead or wedged), unless another thread already did."""
        with self._lock:
            if template is None or self.templates.get(env.name) is not template:
                return
            del self.templates[env.name]
        template.kill()

    def _fork_session(
        self, env: Environment, spare: bool, deadline: float | None = None
    ) -> HostSession:
        """Fork a child, replacing dead or wedged templates until it works.

        At least three attempts, then more until ``template_fork_timeout`` has
        passed, but never past the run's ``deadline``: templates may die
        several times in a row, and a request waiting on them must still be
        served if there is time.
        """
        give_up = time.monotonic() + self.config.template_fork_timeout
        if deadline is not None:
            give_up = min(give_up, deadline)
        attempts = 0
        while True:
            attempts += 1
            template = None
            wait = self.config.template_fork_timeout
            if deadline is not None:
                wait = max(0.01, min(wait, deadline - time.monotonic()))
            try:
                template = self._template(env)
                host = template.fork(self, wait, rehearse=spare)
            except TemplateGone as exc:
                self._discard_template(env, template)  # the next attempt starts anew
                out_of_time = deadline is not None and time.monotonic() >= deadline
                if self._closed or out_of_time or (attempts >= 3 and time.monotonic() >= give_up):
                    raise RuntimeError(
                        f"could not fork a host for environment {env.name!r} "
                        f"({attempts} attempts): {exc}; see {self._log_hint(env)}"
                    ) from None
                time.sleep(min(0.05 * attempts, 0.5))
                continue
            session = HostSession(
                host, handlers=self.handlers, max_frame_size=self.config.max_frame_size
            )
            session.info = template.info
            return session

    def _log_hint(self, env: Environment) -> str:
        return os.path.join(self.config.state_dir, "logs", f"template-{env.name}.log")

    # -- the launcher interface ----------------------------------------------

    def acquire(self, env: Environment, deadline: float | None) -> HostSession:
        with self._lock:
            if self._closed:
                raise LauncherClosed("the executor is shutting down")
            self.activity.begin()
            self.envs.setdefault(env.name, env)
            spares = self.spares[env.name]
            session = spares.popleft() if spares else None
            self._wanted.notify()
        if session is not None:
            return session
        try:
            return self._fork_session(env, spare=False, deadline=deadline)
        except BaseException:
            self.activity.end()
            raise

    def reap(self, host: ForkedHost) -> None:
        """Tear a used host down off the response path (at once once closed)."""
        if self.reaper.is_alive():
            self.reaper.put(host)
        else:
            host.finish()

    def forget(self, env: Environment) -> None:
        with self._lock:
            spares = list(self.spares.pop(env.name, ()))
            self.envs.pop(env.name, None)
            template = self.templates.pop(env.name, None)
        for session in spares:
            session.host.discard()
        if template is not None:
            template.stop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted.notify_all()
            spares = [s for pool in self.spares.values() for s in pool]
            self.spares.clear()
        self._refiller.join(10)
        for session in spares:
            session.host.discard()
        # Runs still in flight finish (bounded), then everything is torn down.
        self.activity.wait_idle(self.config.close_timeout)
        self.reaper.drain()
        with self._lock:
            templates = list(self.templates.values())
            self.templates.clear()
        for template in templates:
            template.stop()

    # -- spares ----------------------------------------------------------------

    def _missing(self) -> Environment | None:
        """An environment short of spares, taking turns, skipping backed-off ones."""
        now = time.monotonic()
        for name in sorted(self.envs, key=lambda n: len(self.spares[n])):
            if len(self.spares[name]) < self.config.spare_children:
                if self._refill_after.get(name, 0.0) <= now:
                    return self.envs[name]
        return None

    def _refill_loop(self) -> None:
        while True:
            with self._lock:
                env = self._missing()
                while env is None and not self._closed:
                    self._wanted.wait(timeout=1.0 if self._refill_after else None)
                    env = self._missing()
                if self._closed:
                    return
            if self.spares[env.name]:  # not empty: wait for a quiet moment first
                self.activity.wait_idle(self.config.housekeeping_delay)
            try:
                session = self._fork_session(env, spare=True)
            except Exception as exc:
                failures = self._refill_failures.get(env.name, 0) + 1
                self._refill_failures[env.name] = failures
                self._refill_after[env.name] = time.monotonic() + min(60.0, 2.0**failures)
                log.error("could not prepare a spare host for %s: %s", env.name, exc)
                continue
            self._refill_after.pop(env.name, None)
            self._refill_failures.pop(env.name, None)
            with self._lock:
                keep = not self._closed and env.name in self.envs
                if keep:
                    self.spares[env.name].append(session)
            if not keep:
                session.host.discard()
