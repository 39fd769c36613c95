"""``StateLayout``: every path under the executor's state directory, in one place.

::

    <state_dir>/
        envs/             named environments (see environments/store.py)
            .versions/    one virtualenv per build
            .locks/       one lock file per environment, plus "records"
        cache/            $XDG_CACHE_HOME of hosts, templates and inspections that
                          run without a private file system: what their libraries
                          cache, shared so that it stays warm
        wheels/           the runtime wheel built from the executor's packages
        index/            per-environment action indexes, by fingerprint
        work/             per-action private working directories
        logs/             template logs, one per environment
        service/          the Mistral service's config file for its hosts, one
                          per [executor] host (action-config-<host>.conf)
        mistral-service/  the Mistral service's journals, one per [executor] host

Building a layout does no I/O; ``ensure()`` creates the directories.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class StateLayout:
    state_dir: str

    @property
    def envs(self) -> str:
        return os.path.join(self.state_dir, "envs")

    @property
    def env_versions(self) -> str:
        return os.path.join(self.envs, ".versions")

    @property
    def env_locks(self) -> str:
        return os.path.join(self.envs, ".locks")

    @property
    def cache(self) -> str:
        return os.path.join(self.state_dir, "cache")

    @property
    def wheels(self) -> str:
        return os.path.join(self.state_dir, "wheels")

    @property
    def index(self) -> str:
        return os.path.join(self.state_dir, "index")

    @property
    def work(self) -> str:
        return os.path.join(self.state_dir, "work")

    @property
    def logs(self) -> str:
        return os.path.join(self.state_dir, "logs")

    @property
    def service(self) -> str:
        return os.path.join(self.state_dir, "service")

    @property
    def journals(self) -> str:
        """Not ``service``: the journals have always lived here, and a journal
        left where a new version does not look loses the actions it holds."""
        return os.path.join(self.state_dir, "mistral-service")

    def template_log(self, env_name: str) -> str:
        return os.path.join(self.logs, f"template-{env_name}.log")

    def ensure(self) -> StateLayout:
        """Create the directories the executor writes to; returns self."""
        for path in (self.state_dir, self.work, self.logs, self.cache, self.index):
            os.makedirs(path, exist_ok=True)
        return self
