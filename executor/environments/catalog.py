"""Which environment provides which action, and which one runs a name.

Naming rule (documented in docs/tutorial.md):

* ``ENV:NAME`` always means action NAME of environment ENV;
* a plain ``NAME`` must be provided by exactly one environment, or by one
  that was installed with ``--prefer`` for it. Installing a package that
  would make a plain name ambiguous is refused, and the environment stays
  as it was, unless ``--prefer`` says that this environment wins it.

Every environment carries the runtime's std actions; only the executor's
own (``default``) environment provides them. A broken entry never wins a
name: a plain name resolves to the environments where it works (a broken one
is reported only when no environment has a working one), and a broken entry
never makes another environment's install clash.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from executor.config import ExecutorConfig
from executor.environments.index import EnvironmentIndex, InspectFailed
from executor.environments.model import (
    DEFAULT_ENV,
    Environment,
    EnvironmentChangeFailed,
    EnvSettings,
    default_environment,
)
from executor.environments.store import EnvironmentStore
from executor.environments.wheels import RUNTIME_DISTRIBUTION
from executor.errors import ErrorKind, ExecutorError
from executor.layout import StateLayout
from executor.sandbox.runtime import SandboxRuntime
from protocol.messages import ActionInfo

log = logging.getLogger(__name__)


class UnknownAction(ExecutorError, LookupError):
    """No environment provides the action; ``plain_name`` when the name itself is
    unknown (the caller may suggest close names), else the message says why."""

    kind = ErrorKind.ACTION_NOT_FOUND

    def __init__(self, message: str, plain_name: bool = False) -> None:
        super().__init__(message)
        self.plain_name = plain_name


#: Mistral's own std action classes, as its engine names them on the wire,
#: and the std action of ours that runs each (same names, parameters and
#: instance attributes).
MISTRAL_STD_CLASSES = {
    "mistral.actions.std_actions.EchoAction": "std.echo",
    "mistral.actions.std_actions.NoOpAction": "std.noop",
    "mistral.actions.std_actions.AsyncNoOpAction": "std.async_noop",
    "mistral.actions.std_actions.FailAction": "std.fail",
    "mistral.actions.std_actions.SleepAction": "std.sleep",
    "mistral.actions.std_actions.TestDictAction": "std.test_dict",
    "mistral.actions.std_actions.HTTPAction": "std.http",
    "mistral.actions.std_actions.MistralHTTPAction": "std.mistral_http",
    "mistral.actions.std_actions.SendEmailAction": "std.email",
    "mistral.actions.std_actions.SSHAction": "std.ssh",
    "mistral.actions.std_actions.SSHProxiedAction": "std.ssh_proxied",
    "mistral.actions.std_actions.JavaScriptAction": "std.javascript",
}


class ActionCatalog:
    def __init__(
        self,
        config: ExecutorConfig,
        store: EnvironmentStore,
        on_change: Callable[[Environment], None],
        runtime: SandboxRuntime | None = None,
    ) -> None:
        self.config = config
        self.store = store
        #: runs ``action-host --inspect`` sandboxed (None: a runtime of its own each time)
        self.runtime = runtime
        self.on_change = on_change
        self.default = default_environment(
            tuple(config.extra_paths),
            EnvSettings(
                path=tuple(config.host_path),
                environ=dict(config.host_environ),
                preimport=tuple(config.preimport_modules),
            ),
        )
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._targets: dict[str, tuple[str, str]] = {}
        self.envs: dict[str, Environment] = {}
        self.preferred: dict[str, set[str]] = {}
        self.indexes: dict[str, EnvironmentIndex] = {}

    def refresh(self, force: bool = False) -> None:
        """Follow the environment store: new, swapped and removed environments.

        The new state is built aside and swapped in with single assignments,
        so runs resolving names meanwhile see either the old or the new state.
        """
        generation = self.store.generation()
        if not force and generation == self._generation:
            return
        changed: list[Environment] = []
        with self._lock:
            if not force and generation == self._generation:
                return  # another thread refreshed meanwhile
            envs = {self.default.name: self.default}
            for env in self.store.environments():
                envs[env.name] = env
            preferred: dict[str, set[str]] = {}
            for name in envs:
                if name != DEFAULT_ENV:
                    try:
                        preferred[name] = set(self.store.record(name).preferred)
                    except EnvironmentChangeFailed:
                        preferred[name] = set()
            # A new build or new settings: hosts started before must go.
            targets = {name: (env.target(), env.settings.key()) for name, env in envs.items()}
            indexes = dict(self.indexes)
            for name, old in self.envs.items():
                if name not in envs or targets.get(name) != self._targets.get(name):
                    changed.append(old)
                    indexes.pop(name, None)
            for name, env in envs.items():
                if name not in indexes:
                    indexes[name] = EnvironmentIndex(
                        env,
                        StateLayout(self.config.state_dir),
                        host_args=env.host_arguments(
                            self.config.host_config_files, self.config.strict_serialization
                        ),
                        runtime=self.runtime,
                        policy=self.config.sandbox_for(name),
                    )
            self.indexes, self.envs, self.preferred, self._targets = (
                indexes,
                envs,
                preferred,
                targets,
            )
            self._generation = generation  # last: readers outside the lock trust it
        for env in changed:
            self.on_change(env)  # stop its template: it runs a replaced build

    def _actions(self, env_name: str, refresh: bool = False) -> dict[str, ActionInfo]:
        """The actions of one environment; an environment that cannot be inspected
        provides none (and says why in the log) instead of breaking every run."""
        index = self.indexes.get(env_name)
        if index is None:
            return {}
        try:
            actions = index.actions(refresh)
        except InspectFailed as exc:
            log.warning("environment %s is unusable: %s", env_name, exc)
            return {}
        if env_name == DEFAULT_ENV:
            return actions
        return {n: a for n, a in actions.items() if a.distribution != RUNTIME_DISTRIBUTION}

    def entries(self, refresh: bool = False) -> list[tuple[str, ActionInfo]]:
        self.refresh(force=refresh)
        found = []
        for env_name in list(self.envs):
            for info in self._actions(env_name, refresh).values():
                found.append((env_name, info))
        return sorted(found, key=lambda item: (item[1].name, item[0]))

    def providers(self, action: str) -> list[str]:
        """Environments where ``action`` works; if none, those where it is broken."""
        having = [e for e in list(self.envs) if action in self._actions(e)]
        working = [e for e in having if self._actions(e)[action].error is None]
        return working or having

    def resolve(self, action: str) -> tuple[Environment, ActionInfo]:
        self.refresh()
        env_name, sep, name = action.partition(":")
        if sep:
            if env_name not in self.envs:
                raise UnknownAction(
                    f"unknown environment {env_name!r} in {action!r}; environments: "
                    f"{', '.join(sorted(self.envs))}"
                )
            info = self._actions(env_name).get(name)
            if info is None:
                raise UnknownAction(f"environment {env_name!r} has no action {name!r}")
            return self.envs[env_name], info
        providers = self.providers(action)
        if not providers:
            raise UnknownAction(f"unknown action {action!r}", plain_name=True)
        if len(providers) > 1:
            winners = [e for e in providers if action in self.preferred.get(e, set())]
            if len(winners) != 1:
                qualified = " or ".join(f"{e}:{action}" for e in providers)
                raise UnknownAction(
                    f"action {action!r} is provided by several environments "
                    f"({', '.join(providers)}); run it as {qualified}, or make one win "
                    f"with 'action-executor install --env ENV --prefer ...'"
                )
            providers = winners
        return self.envs[providers[0]], self._actions(providers[0])[action]

    def resolve_class(
        self, class_path: str, class_attrs: Mapping[str, Any] | None = None
    ) -> tuple[Environment, ActionInfo]:
        """The action whose class is ``class_path`` (how Mistral's engine names one).

        A generated action (mistral-extra) is named by its base class plus the
        class attributes it was generated with (``client_method_name``): it
        matches when all of its attributes are among ``class_attrs``, and the
        most specific match wins. A class that an environment really provides
        runs there; Mistral's std classes otherwise run on our std actions;
        any other class must be the class of exactly one environment's action.
        """
        attrs = dict(class_attrs or {})
        self.refresh()
        found = [
            (env_name, info)
            for env_name in list(self.envs)
            for info in self._actions(env_name).values()
            if info.class_path == class_path
            and info.error is None
            and all(k in attrs and attrs[k] == v for k, v in info.class_attrs.items())
        ]
        if found:
            best = max(len(info.class_attrs) for _e, info in found)
            found = [(e, i) for e, i in found if len(i.class_attrs) == best]
        if not found and class_path in MISTRAL_STD_CLASSES:
            return self.resolve(MISTRAL_STD_CLASSES[class_path])
        if not found:
            raise UnknownAction(
                f"no environment provides an action of class {class_path!r}; install the "
                "package that defines it ('action-executor install --env NAME PACKAGE')"
            )
        if len(found) > 1:
            winners = [(e, i) for e, i in found if i.name in self.preferred.get(e, set())]
            if len(winners) == 1:
                found = winners
            elif len({e for e, _ in found}) > 1:
                listing = ", ".join(f"{e}:{i.name}" for e, i in found)
                raise UnknownAction(
                    f"class {class_path!r} is provided by several environments ({listing}); "
                    "remove one, or make one win its name with --prefer"
                )
        env_name, info = found[0]
        return self.envs[env_name], info

    def check_clashes(self, env_name: str, infos: list[ActionInfo], prefer: bool) -> list[str]:
        """Names ``env_name`` would share with others: refused unless ``prefer``."""
        self.refresh()
        new_names = {info.name for info in infos if info.error is None}
        clashes: dict[str, list[str]] = {}
        for other in list(self.envs):
            if other == env_name:
                continue
            working = {n for n, a in self._actions(other).items() if a.error is None}
            for name in new_names & working:
                clashes.setdefault(name, []).append(other)
        if not clashes:
            return []
        if prefer:
            for name, others in clashes.items():
                for other in others:
                    if other != DEFAULT_ENV and name in self.preferred.get(other, set()):
                        self.store.set_preferred(other, [name], add=False)
            return sorted(clashes)
        listing = "; ".join(f"{n} (also in {', '.join(o)})" for n, o in sorted(clashes.items()))
        raise EnvironmentChangeFailed(
            f"refused: environment {env_name!r} would provide action names that other "
            f"environments provide too: {listing}. The environment is unchanged. Install "
            f"again with --prefer to make {env_name!r} win these names (the others stay "
            f"reachable as ENV:NAME), or remove the clashing package."
        )
