"""How hosts are started: one interface, two launchers.

``acquire(env, deadline)`` returns a ``HostSession`` whose handshake is done;
the executor binds it to a run, runs the action, and calls ``release()``.

* ``spawn``: a fresh interpreter per action (``executor.spawn``).
* ``fork``: a fresh child forked from a warm template per environment, with
  spare children forked and handshaken ahead of demand (``executor.fork``).
"""

from __future__ import annotations

from typing import Any, Protocol

from protocol.endpoint import Handlers

from executor.config import ExecutorConfig
from executor.environments.model import Environment
from executor.hosts.session import HostSession


class Launcher(Protocol):
    name: str

    def acquire(self, env: Environment, deadline: float | None) -> HostSession: ...

    def forget(self, env: Environment) -> None:
        """The environment changed or went away: drop warm processes of it."""

    def close(self) -> None: ...


def make_launcher(config: ExecutorConfig, handlers: Handlers[Any]) -> Launcher:
    if config.launcher == "spawn":
        from executor.hosts.spawn import SpawnLauncher

        return SpawnLauncher(config, handlers)
    if config.launcher == "fork":
        from executor.hosts.fork.launcher import ForkLauncher

        return ForkLauncher(config, handlers)
    raise ValueError(f"unknown launcher {config.launcher!r}: use 'fork' or 'spawn'")
