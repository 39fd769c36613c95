"""How hosts are started: one interface, two launchers.

``acquire(env, deadline)`` returns a ``HostSession`` whose handshake is done;
the run binds it, runs the action, and calls ``release()``.

* ``spawn``: a fresh interpreter per action (``executor.hosts.spawn``).
* ``fork``: a fresh child forked from a warm template per environment, with
  spare children forked and handshaken ahead of demand
  (``executor.hosts.fork``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from executor.deadline import Deadline
from executor.environments.model import Environment
from executor.sandbox.model import SandboxPolicy

if TYPE_CHECKING:
    from executor.hosts.session import HostSession


@dataclass(frozen=True)
class LauncherStats:
    """What a launcher holds now: for tests, benchmarks and operators."""

    launcher: str
    hosts_started: int = 0
    #: environment name -> pid of its template (fork only)
    templates: dict[str, int] = field(default_factory=dict)
    #: environment name -> spare children ready now (fork only)
    spares: dict[str, int] = field(default_factory=dict)
    #: used hosts released but not yet torn down (fork only)
    teardown_backlog: int = 0
    #: templates started again for an environment that had one (a template
    #: that died, or that a rebuilt environment or new settings replaced)
    template_restarts: int = 0


class Launcher(Protocol):
    name: str

    def start(self) -> None:
        """Start background work (threads); no host is started yet."""

    def acquire(
        self, env: Environment, deadline: Deadline, policy: SandboxPolicy | None = None
    ) -> HostSession:
        """A host for ``env``, sandboxed by ``policy`` (None: the environment's
        own; a nested run passes a stricter one)."""

    def prepare(self, env: Environment) -> None:
        """Warm ``env`` up ahead of demand (start its template); may block."""

    def loaded(self, env: Environment, action: str) -> None:
        """``action`` ran to a result in ``env`` (its code imports and works):
        a launcher may keep it loaded for the next runs (fork: the template
        imports it). Never blocks."""

    def forget(self, env: Environment) -> None:
        """The environment changed or went away: drop warm processes of it."""

    def stats(self) -> LauncherStats: ...

    def close(self) -> None: ...
