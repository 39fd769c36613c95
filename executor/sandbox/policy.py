"""What a host gets instead of the executor's world.

Per action: a private working directory (removed afterwards), a clean
environment (none of the executor's variables, credentials or open files
leak in), and its own session and process group so the whole tree can be
killed. Credentials reach the action only through its context.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from executor.environments.model import Environment
from executor.layout import StateLayout

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


class Sandbox:
    """A host's working directory and environment variables."""

    def __init__(self, workdir: str, environ: dict[str, str]) -> None:
        self.workdir = workdir
        self.environ = environ

    @classmethod
    def create(cls, env: Environment, layout: StateLayout) -> Sandbox:
        """Make a fresh private working directory under ``layout.work``."""
        os.makedirs(layout.work, exist_ok=True)
        workdir = tempfile.mkdtemp(prefix="action-", dir=layout.work)
        return cls(workdir, host_environ(env, home=workdir, cache_dir=layout.cache))

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def host_environ(env: Environment, *, home: str, cache_dir: str) -> dict[str, str]:
    environ = {
        # The environment's own bin first (its console scripts), then the
        # directories its settings add, then the system's.
        "PATH": env.search_path(SAFE_PATH),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        # stevedore keeps its entry-point cache here; shared so it stays warm.
        "XDG_CACHE_HOME": cache_dir,
    }
    if env.extra_paths:
        environ["PYTHONPATH"] = os.pathsep.join(env.extra_paths)
    # The environment's own variables; PATH, HOME and TMPDIR stay the sandbox's.
    environ.update(
        {k: v for k, v in env.settings.environ.items() if k not in ("PATH", "HOME", "TMPDIR")}
    )
    return environ
