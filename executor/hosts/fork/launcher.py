"""The ``fork`` launcher: a warm template per environment, a fresh child per action.

Per environment one template process is started (lazily, or ahead of demand
by ``prepare``) under that environment's interpreter. Keeping the response
path short: a few *spare* children are forked and handshaken ahead of
demand by a refill thread, so a request usually finds a ready child; used
children are closed and reaped by the reaper thread, never by the thread
that returns the result.

A template that dies or stops answering is replaced; a request whose fork
failed that way is retried on the new template, so none is lost.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from typing import Any

from executor.config import ExecutorConfig
from executor.deadline import Deadline
from executor.environments.model import Environment
from executor.hosts.fork.child import ForkedHost
from executor.hosts.fork.errors import HostStartFailed, LauncherClosed, TemplateGone
from executor.hosts.fork.housekeeping import Activity, Reaper
from executor.hosts.fork.template import TemplateProcess
from executor.hosts.launcher import LauncherStats
from executor.hosts.session import HostSession
from executor.hosts.states import HostState
from executor.layout import StateLayout
from executor.sandbox.model import SandboxPolicy
from executor.sandbox.runtime import SandboxRuntime
from protocol.handlers import Handlers

log = logging.getLogger(__name__)


def _digest(policy: SandboxPolicy) -> str:
    return hashlib.sha256(repr(policy).encode()).hexdigest()[:8]


def _same(a: Environment | None, b: Environment) -> bool:
    """The same build with the same settings (``Environment`` equality ignores settings)."""
    return a is not None and a == b and a.settings == b.settings


class ForkLauncher:
    name = "fork"

    def __init__(
        self, config: ExecutorConfig, handlers: Handlers[Any], runtime: SandboxRuntime
    ) -> None:
        self.config = config
        self.runtime = runtime
        self.layout = StateLayout(config.state_dir)
        self.handlers = handlers
        self._templates: dict[str, TemplateProcess] = {}
        #: templates started per key, for LauncherStats.template_restarts
        self._template_starts: collections.Counter[str] = collections.Counter()
        self._envs: dict[str, Environment] = {}
        self._spares: dict[str, collections.deque[HostSession]] = collections.defaultdict(
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
        self._forked = 0
        self.activity = Activity()
        self.reaper = Reaper(self.activity, config.housekeeping_delay, self._rest)
        self._refiller: threading.Thread | None = None

    def start(self) -> None:
        self.reaper.start()
        self._refiller = threading.Thread(
            target=self._refill_loop, name="spare-refill", daemon=True
        )
        self._refiller.start()

    # -- templates -----------------------------------------------------------

    def _key(self, env: Environment, policy: SandboxPolicy | None) -> tuple[str, SandboxPolicy]:
        """Templates per environment and sandbox: a nested run narrowed by its
        caller's policy gets a template of that policy (no spares)."""
        default = self.config.sandbox_for(env.name)
        if policy is None or policy == default:
            return env.name, default
        return f"{env.name}@{_digest(policy)}", policy

    def _template(self, env: Environment, policy: SandboxPolicy | None = None) -> TemplateProcess:
        key, policy = self._key(env, policy)
        with self._lock:
            env_lock = self._template_locks[key]
        with env_lock:
            with self._lock:
                template = self._templates.get(key)
            if template is not None and template.alive and not _same(template.env, env):
                # The environment was rebuilt or its settings changed: a new
                # template; the old one retires once its runs are done.
                threading.Thread(target=self._retire, args=(template,), daemon=True).start()
                template = None
            if template is None or not template.alive:
                if self._closed:
                    raise LauncherClosed("the executor is shutting down")
                if template is not None:
                    log.warning("replacing dead template of %s (pid %s)", env.name, template.pid)
                    template.kill()
                template = TemplateProcess(env, self.config, self.runtime, policy).start()
                with self._lock:
                    closed = self._closed
                    if not closed:
                        self._templates[key] = template
                        self._template_starts[key] += 1
                if closed:  # closed while it started: ``close`` did not see it
                    template.stop()
                    raise LauncherClosed("the executor is shutting down")
            return template

    def _discard_template(self, key: str, template: TemplateProcess | None) -> None:
        """Replace ``template`` (dead or wedged), unless another thread already did."""
        with self._lock:
            if template is None or self._templates.get(key) is not template:
                return
            del self._templates[key]
        template.kill()

    def _fork_session(
        self,
        env: Environment,
        spare: bool,
        deadline: Deadline,
        policy: SandboxPolicy | None = None,
    ) -> HostSession:
        """Fork a child, replacing dead or wedged templates until it works.

        At least three attempts, then more until ``template_fork_timeout`` has
        passed, but never past the run's ``deadline``: templates may die
        several times in a row, and a request waiting on them must still be
        served if there is time.
        """
        give_up = Deadline.after(self.config.template_fork_timeout)
        attempts = 0
        while True:
            attempts += 1
            template = None
            try:
                waited = time.monotonic()
                template = self._template(env, policy)
                # A template's (re)start does not count against the run's time:
                # imports can take seconds; a wedged fork below does count.
                deadline = deadline.extended(time.monotonic() - waited)
                host = template.fork(deadline, rehearse=spare, on_release=self._release)
            except TemplateGone as exc:
                self._discard_template(self._key(env, policy)[0], template)  # anew next time
                out_of_time = deadline.expired() or give_up.expired()
                if self._closed:
                    raise LauncherClosed("the executor is shutting down") from None
                if (attempts >= 3 and out_of_time) or deadline.expired():
                    raise HostStartFailed(
                        f"could not fork a host for environment {env.name!r} "
                        f"({attempts} attempts): {exc}; see {self.layout.template_log(env.name)}"
                    ) from None
                time.sleep(min(0.05 * attempts, 0.5))
                continue
            self._forked += 1
            session = HostSession(
                host,
                handlers=self.handlers,
                max_frame_size=self.config.max_frame_size,
                max_line_bytes=self.config.max_log_line_bytes,
            )
            session.info = template.info
            host.lifecycle.change(HostState.READY)  # one handshake per template, not per child
            return session

    # -- the launcher interface ----------------------------------------------

    def prepare(self, env: Environment) -> None:
        with self._lock:
            self._envs[env.name] = env
            self._wanted.notify()
        self._template(env)

    def acquire(
        self, env: Environment, deadline: Deadline, policy: SandboxPolicy | None = None
    ) -> HostSession:
        if self._key(env, policy)[0] != env.name:  # a narrowed policy: no spares
            with self._lock:
                if self._closed:
                    raise LauncherClosed("the executor is shutting down")
                self.activity.begin()
            try:
                return self._fork_session(env, spare=False, deadline=deadline, policy=policy)
            except BaseException:
                self.activity.end()
                raise
        dead: list[HostSession] = []
        with self._lock:
            if self._closed:
                raise LauncherClosed("the executor is shutting down")
            self.activity.begin()
            self._envs[env.name] = env
            spares = self._spares[env.name]
            session = None
            while spares and session is None:
                session = spares.popleft()
                if session.host.lifecycle.ended:  # died waiting (its template died)
                    dead.append(session)
                    session = None
            self._wanted.notify()
        for spare in dead:
            spare.host.discard()
        if session is not None:
            return session
        try:
            return self._fork_session(env, spare=False, deadline=deadline)
        except BaseException:
            self.activity.end()
            raise

    def loaded(self, env: Environment, action: str) -> None:
        """``action`` ran in ``env``: its template imports it for later children,
        and the spares forked before that make way for ones that have it (or
        each of them would import it again: seconds for mistral-extra's)."""
        with self._lock:
            template = self._templates.get(env.name)
        if template is None or not template.alive or not _same(template.env, env):
            return
        if not template.preload(action):
            return
        with self._lock:
            stale = list(self._spares.pop(env.name, ()))
            self._wanted.notify()
        for session in stale:
            session.host.discard()

    def _release(self, host: ForkedHost, used: bool) -> None:
        """A host's run is over (``used``), or a spare was dropped: tear it down
        off the response path."""
        if used:
            self.activity.end()
        self.reaper.put(host)

    def forget(self, env: Environment) -> None:
        with self._lock:
            spares = list(self._spares.pop(env.name, ()))
            self._envs.pop(env.name, None)
            keys = [k for k in self._templates if k == env.name or k.startswith(f"{env.name}@")]
            templates = [self._templates.pop(k) for k in keys]
        for session in spares:
            session.host.discard()
        for template in templates:  # runs on it may still be going: retire it after them
            threading.Thread(target=self._retire, args=(template,), daemon=True).start()

    def _retire(self, template: TemplateProcess) -> None:
        self.activity.wait_idle(self.config.close_timeout)
        template.stop()

    def stats(self) -> LauncherStats:
        with self._lock:
            return LauncherStats(
                launcher=self.name,
                hosts_started=self._forked,
                templates={n: t.pid for n, t in self._templates.items() if t.alive},
                spares={n: len(s) for n, s in self._spares.items()},
                teardown_backlog=self.reaper.backlog,
                template_restarts=sum(n - 1 for n in self._template_starts.values()),
            )

    def _rest(self) -> None:
        """Nothing was torn down for a while: templates' idle slots let go."""
        with self._lock:
            templates = list(self._templates.values())
        for template in templates:
            confinement = template.confinement
            if confinement is not None:
                confinement.rest()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._wanted.notify_all()
            spares = [s for pool in self._spares.values() for s in pool]
            self._spares.clear()
        if self._refiller is not None:
            self._refiller.join(10)
        for session in spares:
            session.host.discard()
        # Runs still in flight finish (bounded), then everything is torn down.
        self.activity.wait_idle(self.config.close_timeout)
        self.reaper.drain()
        with self._lock:
            templates = list(self._templates.values())
            self._templates.clear()
        for template in templates:
            template.stop()

    # -- spares ----------------------------------------------------------------

    def _missing(self) -> Environment | None:
        """An environment short of spares, taking turns, skipping backed-off ones."""
        now = time.monotonic()
        for name in sorted(self._envs, key=lambda n: len(self._spares[n])):
            if len(self._spares[name]) < self.config.spare_children:
                if self._refill_after.get(name, 0.0) <= now:
                    return self._envs[name]
        return None

    def _refill_loop(self) -> None:
        while True:
            with self._lock:
                env = self._missing()
                while env is None and not self._closed:
                    self._wanted.wait(timeout=1.0 if self._refill_after else None)
                    env = self._missing()
                if self._closed or env is None:
                    return
            if self._spares[env.name]:  # not empty: wait for a quiet moment first
                self.activity.wait_idle(self.config.housekeeping_delay)
            try:
                session = self._fork_session(env, spare=True, deadline=Deadline())
            except Exception as exc:
                failures = self._refill_failures.get(env.name, 0) + 1
                self._refill_failures[env.name] = failures
                self._refill_after[env.name] = time.monotonic() + min(60.0, 2.0**failures)
                log.error("could not prepare a spare host for %s: %s", env.name, exc)
                continue
            self._refill_after.pop(env.name, None)
            self._refill_failures.pop(env.name, None)
            with self._lock:  # still the environment as it is now?
                keep = not self._closed and _same(self._envs.get(env.name), env)
                if keep:
                    self._spares[env.name].append(session)
            if not keep:
                session.host.discard()
