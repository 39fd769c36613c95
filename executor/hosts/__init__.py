"""Hosts: the processes actions run in, and the two ways to start them.

``make_launcher`` picks the launcher ``ExecutorConfig.launcher`` names. It
lives here, above both, so the interface (``hosts.launcher``) imports
neither launcher, and the launchers import only the interface.
"""

from __future__ import annotations

from typing import Any

from executor.config import ExecutorConfig
from executor.hosts.launcher import Launcher
from executor.sandbox.runtime import SandboxRuntime
from protocol.handlers import Handlers


def make_launcher(
    config: ExecutorConfig, handlers: Handlers[Any], runtime: SandboxRuntime
) -> Launcher:
    if config.launcher == "spawn":
        from executor.hosts.spawn import SpawnLauncher

        return SpawnLauncher(config, handlers, runtime)
    if config.launcher == "fork":
        from executor.hosts.fork.launcher import ForkLauncher

        return ForkLauncher(config, handlers, runtime)
    raise ValueError(f"unknown launcher {config.launcher!r}: use 'fork' or 'spawn'")
